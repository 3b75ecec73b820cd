/**
 * `--help` for the operator commands: `npm run <command> -- --help` prints the command's usage and exits 0 before
 * anything connects or starts, so a newcomer can ask any command what it does without side effects.
 */
export function exitOnHelp(usage: string, argv: readonly string[] = process.argv.slice(2)): void {
    if (!argv.includes('--help') && !argv.includes('-h')) return;
    console.log(usage);
    process.exit(0);
}
