import { hostSettings } from '../local/runtime/localSettings';

/**
 * `--help` for the operator commands: `npm run <command> -- --help` prints the command's usage and exits 0 before
 * anything connects or starts, so a newcomer can ask any command what it does without side effects.
 */
export function exitOnHelp(usage: string, argv: readonly string[] = process.argv.slice(2)): void {
    if (!argv.includes('--help') && !argv.includes('-h')) return;
    console.log(usage);
    process.exit(0);
}

/** A command line a command cannot run: printed with its usage, exit code 64. */
export class UsageError extends Error {}

/**
 * The command's arguments as `parse` reads them; or, for a usage error or a `help` command, the exit code once the
 * problem and the usage (64), or the usage alone (0), are printed.
 */
export function readArguments<A extends { command: string }>(
    argv: string[],
    usage: string,
    parse: (argv: string[]) => A,
): A | number {
    let args: A;
    try {
        args = parse(argv);
    } catch (error) {
        if (!(error instanceof UsageError)) throw error;
        console.error(`${error.message}\n${usage}`);
        return 64;
    }
    if (args.command !== 'help') return args;
    console.log(usage);
    return 0;
}

/** `--local`: the local runtime's peers (npm run emulators on default ports) for each of `names` the environment leaves unset. */
export function useLocalPeers(names: readonly string[]): void {
    const settings = hostSettings(process.env);
    for (const name of names) {
        if (settings[name] !== undefined) process.env[name] ??= settings[name];
    }
}
