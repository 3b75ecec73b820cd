/**
 * Route templates as the Functions host understands them (ASP.NET Core route syntax, the subset apps use):
 * literal segments (case-insensitive), `{name}`, optional `{name?}` at the end, catch-all `{*rest}`, and the
 * constraints `int`, `long`, `bool`, `guid`, `alpha`, `minlength(n)`, `maxlength(n)`, `length(n)`. Other constraints are
 * accepted and not checked, so a route that works in Azure also matches here.
 */

export interface CompiledRoute {
    template: string;
    /** Orders candidates the way ASP.NET routing does: more literal segments first, catch-alls last. */
    precedence: number;
    match(path: string): Record<string, string> | undefined;
}

type Constraint = (value: string) => boolean;

const CONSTRAINTS: Record<string, (arg?: string) => Constraint> = {
    int: () => (v) => /^-?\d+$/.test(v) && Math.abs(Number(v)) <= 2 ** 31,
    long: () => (v) => /^-?\d+$/.test(v),
    bool: () => (v) => /^(true|false)$/i.test(v),
    guid: () => (v) => /^[{(]?[0-9a-f]{8}-?([0-9a-f]{4}-?){3}[0-9a-f]{12}[)}]?$/i.test(v),
    alpha: () => (v) => /^[a-z]+$/i.test(v),
    minlength: (n) => (v) => v.length >= Number(n),
    maxlength: (n) => (v) => v.length <= Number(n),
    length: (n) => (v) => v.length === Number(n),
};

interface Parameter {
    name: string;
    optional: boolean;
    catchAll: boolean;
    constraints: Constraint[];
}

function parseParameter(body: string): Parameter {
    let text = body.trim();
    const catchAll = text.startsWith('*');
    if (catchAll) text = text.replace(/^\*+/, '');
    const optional = text.endsWith('?');
    if (optional) text = text.slice(0, -1);
    const [name = '', ...constraintTexts] = text.split(':');
    const constraints: Constraint[] = [];
    for (const constraintText of constraintTexts) {
        const parsed = /^(\w+)(?:\((.*)\))?$/.exec(constraintText);
        const factory = parsed ? CONSTRAINTS[parsed[1]!.toLowerCase()] : undefined;
        if (factory) constraints.push(factory(parsed?.[2]));
    }
    return { name, optional, catchAll, constraints };
}

function escapeRegExp(text: string): string {
    return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Compiles one route template (without the `api/` prefix). */
export function compileRoute(template: string): CompiledRoute {
    const segments = template
        .replace(/^\/+|\/+$/g, '')
        .split('/')
        .filter(Boolean);
    const parameters: Parameter[] = [];
    let pattern = '';
    let literalSegments = 0;
    let hasCatchAll = false;
    for (const segment of segments) {
        const isPureParameter = /^\{[^{}]+\}$/.test(segment);
        if (isPureParameter) {
            const parameter = parseParameter(segment.slice(1, -1));
            parameters.push(parameter);
            hasCatchAll ||= parameter.catchAll;
            const capture = parameter.catchAll ? '(.*)' : '([^/]+)';
            // An optional (or catch-all) last segment may be missing together with its slash.
            pattern += parameter.optional || parameter.catchAll ? `(?:/${capture})?` : `/${capture}`;
            continue;
        }
        literalSegments += /\{/.test(segment) ? 0 : 1;
        let segmentPattern = '';
        for (const piece of segment.split(/(\{[^{}]+\})/)) {
            if (!piece) continue;
            if (piece.startsWith('{')) {
                const parameter = parseParameter(piece.slice(1, -1));
                parameters.push(parameter);
                segmentPattern += parameter.optional ? '([^/]*?)' : '([^/]+?)';
            } else {
                segmentPattern += escapeRegExp(piece);
            }
        }
        pattern += `/${segmentPattern}`;
    }
    const regex = new RegExp(`^${pattern || ''}/?$`, 'i');
    return {
        template,
        precedence: literalSegments * 10 - parameters.length - (hasCatchAll ? 100 : 0),
        match(path: string) {
            const normalised = path === '' ? '' : `/${path.replace(/^\/+/, '')}`;
            const found = regex.exec(normalised) ?? (normalised === '/' ? regex.exec('') : null);
            if (!found) return undefined;
            const params: Record<string, string> = {};
            for (const [index, parameter] of parameters.entries()) {
                const raw = found[index + 1];
                if (raw === undefined || raw === '') {
                    if (!parameter.optional && !parameter.catchAll) return undefined;
                    continue;
                }
                let value: string;
                try {
                    value = parameter.catchAll
                        ? raw.split('/').map(decodeURIComponent).join('/')
                        : decodeURIComponent(raw);
                } catch {
                    return undefined;
                }
                if (!parameter.constraints.every((check) => check(value))) return undefined;
                params[parameter.name] = value;
            }
            return params;
        },
    };
}
