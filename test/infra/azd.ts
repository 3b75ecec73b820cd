/**
 * What azd reads from azure.yaml and .funcignore, and the rule it applies to them, for the contract tests.
 *
 * azure.yaml here uses only nested mappings of scalars, so a small indentation reader is enough (no YAML library is a
 * declared dependency). The remote-build rule is azd's own (pkg/project/service_target_functionapp.go, Azure/azure-dev):
 * for a js service it reads the project's .funcignore and refuses `remoteBuild: false` when node_modules is excluded,
 * and `remoteBuild: true` when it is not.
 */
export type YamlMap = { [key: string]: string | YamlMap };

/** Nested `key: value` / `key:` mappings; comments and blank lines skipped. Throws on anything else. */
export function readYamlMappings(text: string): YamlMap {
    const root: YamlMap = {};
    const stack: { indent: number; map: YamlMap }[] = [{ indent: -1, map: root }];
    for (const [index, raw] of text.split('\n').entries()) {
        if (/^\s*(#.*)?$/.test(raw)) continue;
        const match = /^( *)([\w.$-]+):(?: +(.*?))?\s*$/.exec(raw);
        if (!match) throw new Error(`azure.yaml line ${index + 1}: not a simple mapping: ${raw}`);
        const [, spaces, key, value] = match;
        while (stack[stack.length - 1]!.indent >= spaces!.length) stack.pop();
        const parent = stack[stack.length - 1]!.map;
        if (value === undefined || value === '') {
            const child: YamlMap = {};
            parent[key!] = child;
            stack.push({ indent: spaces!.length, map: child });
        } else {
            parent[key!] = value.replace(/^(['"])(.*)\1$/, '$2');
        }
    }
    return root;
}

function pattern(glob: string): RegExp {
    const body = glob
        .split('**')
        .map((part) =>
            part
                .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                .replace(/\*/g, '[^/]*')
                .replace(/\?/g, '[^/]'),
        )
        .join('.*');
    return new RegExp(`^${body}$`);
}

/**
 * Whether .funcignore (gitignore syntax) ignores the top-level directory `name`: the last matching pattern wins, a
 * `!` pattern re-includes. Patterns anchored below the top level (`a/b`) or matching only contents (`dir/**`) do not
 * ignore the directory itself.
 */
export function ignoresDirectory(ignoreFile: string, name: string): boolean {
    let ignored = false;
    for (const raw of ignoreFile.split('\n')) {
        const line = raw.trim();
        if (line === '' || line.startsWith('#')) continue;
        const negated = line.startsWith('!');
        const glob = (negated ? line.slice(1) : line).replace(/^\//, '').replace(/\/$/, '');
        if (glob.includes('/') && !/^\*\*\//.test(glob)) continue;
        if (pattern(glob.replace(/^\*\*\//, '')).test(name)) ignored = !negated;
    }
    return ignored;
}

/** azd's check of `remoteBuild` against .funcignore for a js function service; undefined when it accepts them. */
export function remoteBuildConflict(
    remoteBuild: string | undefined,
    funcignore: string | undefined,
): string | undefined {
    if (funcignore === undefined) {
        // Older azd releases turn remote build on whenever the file is missing, whatever azure.yaml says.
        return remoteBuild === 'false'
            ? "no .funcignore: some azd releases build remotely despite 'remoteBuild: false'"
            : undefined;
    }
    const excluded = ignoresDirectory(funcignore, 'node_modules');
    if (remoteBuild === 'false' && excluded)
        return "'remoteBuild: false' cannot be used when '.funcignore' excludes node_modules";
    if (remoteBuild === 'true' && !excluded)
        return "'remoteBuild: true' requires '.funcignore' to exclude node_modules";
    return undefined;
}
