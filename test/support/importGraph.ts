/**
 * The project's import graph, read the way TypeScript reads it (`ts.preProcessFile`: static imports, `import type`,
 * `export … from`, `import x = require(…)`, dynamic `import(…)`), for the architecture test. Only relative imports
 * are edges: packages are not the project's files.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';

import ts from 'typescript';

/** Each file (a project-relative posix path) and the project files it imports. */
export type ImportGraph = Map<string, string[]>;

export const PROJECT_ROOT = join(__dirname, '..', '..');

/** Every TypeScript file of the project: tracked by git, or new and not ignored; never node_modules/ or dist/. */
export function projectFiles(root = PROJECT_ROOT): string[] {
    const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', '*.ts'], {
        cwd: root,
        encoding: 'utf8',
    });
    return listed
        .split('\0')
        .filter((file) => file !== '' && !/(^|\/)(node_modules|dist)\//.test(file))
        .filter((file) => existsSync(join(root, file)))
        .sort();
}

function resolveRelative(from: string, specifier: string, known: ReadonlySet<string>): string | undefined {
    const base = posix.normalize(posix.join(posix.dirname(from), specifier));
    return [base, `${base}.ts`, base.replace(/\.js$/, '.ts'), `${base}/index.ts`].find((file) => known.has(file));
}

/** The graph of `files`; `read` gives a file's text. Imports of other files (JSON, say) are left out. */
export function importGraph(files: readonly string[], read: (file: string) => string): ImportGraph {
    const known = new Set(files);
    const graph: ImportGraph = new Map();
    for (const file of files) {
        const { importedFiles } = ts.preProcessFile(read(file), true, false);
        const targets = importedFiles
            .map((imported) => imported.fileName)
            .filter((specifier) => specifier.startsWith('.'))
            .map((specifier) => resolveRelative(file, specifier, known))
            .filter((target): target is string => target !== undefined);
        graph.set(file, [...new Set(targets)]);
    }
    return graph;
}

export function projectImportGraph(root = PROJECT_ROOT): ImportGraph {
    return importGraph(projectFiles(root), (file) => readFileSync(join(root, file), 'utf8'));
}

/** Strongly connected components with more than one file, or a file importing itself (Tarjan). */
function tangles(graph: ImportGraph): string[][] {
    let next = 0;
    const index = new Map<string, number>();
    const low = new Map<string, number>();
    const stack: string[] = [];
    const onStack = new Set<string>();
    const found: string[][] = [];
    const visit = (file: string): void => {
        index.set(file, next);
        low.set(file, next++);
        stack.push(file);
        onStack.add(file);
        for (const target of graph.get(file) ?? []) {
            if (!index.has(target)) {
                visit(target);
                low.set(file, Math.min(low.get(file)!, low.get(target)!));
            } else if (onStack.has(target)) {
                low.set(file, Math.min(low.get(file)!, index.get(target)!));
            }
        }
        if (low.get(file) !== index.get(file)) return;
        const component: string[] = [];
        let member: string;
        do {
            member = stack.pop()!;
            onStack.delete(member);
            component.push(member);
        } while (member !== file);
        if (component.length > 1 || (graph.get(file) ?? []).includes(file)) found.push(component.sort());
    };
    for (const file of graph.keys()) if (!index.has(file)) visit(file);
    return found;
}

/** The shortest way from `from` back to `to`, through `allowed` files only (breadth first). */
function shortestPath(graph: ImportGraph, from: string, to: string, allowed: ReadonlySet<string>): string[] {
    const parent = new Map<string, string>();
    const queue = [from];
    for (let i = 0; i < queue.length; i++) {
        const file = queue[i]!;
        for (const target of graph.get(file) ?? []) {
            if (target === to) {
                const path = [file];
                while (path[0] !== from) path.unshift(parent.get(path[0]!)!);
                return [...path, to];
            }
            if (allowed.has(target) && !parent.has(target) && target !== from) {
                parent.set(target, file);
                queue.push(target);
            }
        }
    }
    return [from, to];
}

/** One cycle per tangle of mutually importing files, each written from its first file back to it: [a, b, a]. */
export function importCycles(graph: ImportGraph): string[][] {
    return tangles(graph).map((component) => {
        const start = component[0]!;
        return shortestPath(graph, start, start, new Set(component));
    });
}

/** For each file matching `isForbidden` that files matching `isFrom` reach, one chain of imports that gets there. */
export function forbiddenReach(
    graph: ImportGraph,
    isFrom: (file: string) => boolean,
    isForbidden: (file: string) => boolean,
): string[][] {
    const parent = new Map<string, string | undefined>();
    const queue = [...graph.keys()].filter(isFrom);
    for (const file of queue) parent.set(file, undefined);
    const chains: string[][] = [];
    for (let i = 0; i < queue.length; i++) {
        const file = queue[i]!;
        for (const target of graph.get(file) ?? []) {
            if (parent.has(target)) continue;
            parent.set(target, file);
            if (isForbidden(target)) {
                const chain = [target];
                for (let at = parent.get(target); at !== undefined; at = parent.get(at)) chain.unshift(at);
                chains.push(chain);
            } else {
                queue.push(target);
            }
        }
    }
    return chains;
}
