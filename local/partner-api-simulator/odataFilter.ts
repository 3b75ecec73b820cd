/**
 * A small OData `$filter` parser and evaluator: `eq`/`ne` comparisons on property paths (`customerProfile/address/
 * country`), `gt`/`ge`/`lt`/`le` on date-time properties (`updatedDateTime ge 2024-05-01T00:00:00Z`), combined with
 * `and`/`or`/`not` and parentheses. Values: quoted strings (`''` escapes a quote), unquoted GUIDs (the service's own
 * relatedReferrals links omit the quotes) and date-times, numbers, true/false/null. Lambdas (`any`) and functions are
 * not supported and answer 400, as an unsupported query would.
 *
 * GUIDs and enum values compare case-insensitively (the service binds both so); other strings compare exactly unless
 * `ignoreCase` is set, as a service whose store collates case-insensitively would.
 */
import { wireName } from './propertyNames';

export type FilterValue = string | number | boolean | null;

const EQUALITY = ['eq', 'ne'] as const;
const ORDERING = ['gt', 'ge', 'lt', 'le'] as const;
type Operator = (typeof EQUALITY)[number] | (typeof ORDERING)[number];

export type FilterNode =
    | { kind: 'compare'; path: string[]; operator: Operator; value: FilterValue }
    | { kind: 'and' | 'or'; left: FilterNode; right: FilterNode }
    | { kind: 'not'; operand: FilterNode };

export class FilterSyntaxError extends Error {
    override readonly name = 'FilterSyntaxError';
}

type Token = { kind: 'word'; text: string } | { kind: 'string'; text: string } | { kind: 'open' | 'close' };

function tokenize(input: string): Token[] {
    const tokens: Token[] = [];
    let i = 0;
    while (i < input.length) {
        const char = input[i]!;
        if (/\s/.test(char)) {
            i++;
        } else if (char === '(' || char === ')') {
            tokens.push({ kind: char === '(' ? 'open' : 'close' });
            i++;
        } else if (char === "'") {
            let text = '';
            i++;
            for (;;) {
                if (i >= input.length) throw new FilterSyntaxError('unterminated string literal');
                if (input[i] === "'") {
                    if (input[i + 1] === "'") {
                        text += "'";
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                text += input[i];
                i++;
            }
            tokens.push({ kind: 'string', text });
        } else {
            const match = /^[^\s()']+/.exec(input.slice(i))!;
            tokens.push({ kind: 'word', text: match[0] });
            i += match[0].length;
        }
    }
    return tokens;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATE_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/i;
/** Properties holding enum values (ReferralStatus, ReferralType, …): compared case-insensitively. */
const ENUM_PROPERTIES = new Set(['status', 'substatus', 'type', 'qualification', 'direction']);

export interface FilterOptions {
    /** Every string comparison ignores case. */
    ignoreCase?: boolean;
}

class Parser {
    private position = 0;

    constructor(private readonly tokens: Token[]) {}

    parse(): FilterNode {
        const node = this.parseOr();
        if (this.position < this.tokens.length) throw new FilterSyntaxError('unexpected token');
        return node;
    }

    private peekWord(): string | undefined {
        const token = this.tokens[this.position];
        return token?.kind === 'word' ? token.text.toLowerCase() : undefined;
    }

    private parseOr(): FilterNode {
        let left = this.parseAnd();
        while (this.peekWord() === 'or') {
            this.position++;
            left = { kind: 'or', left, right: this.parseAnd() };
        }
        return left;
    }

    private parseAnd(): FilterNode {
        let left = this.parseUnary();
        while (this.peekWord() === 'and') {
            this.position++;
            left = { kind: 'and', left, right: this.parseUnary() };
        }
        return left;
    }

    private parseUnary(): FilterNode {
        if (this.peekWord() === 'not') {
            this.position++;
            return { kind: 'not', operand: this.parseUnary() };
        }
        const token = this.tokens[this.position];
        if (token?.kind === 'open') {
            this.position++;
            const inner = this.parseOr();
            if (this.tokens[this.position]?.kind !== 'close') throw new FilterSyntaxError('missing )');
            this.position++;
            return inner;
        }
        return this.parseComparison();
    }

    private parseComparison(): FilterNode {
        const field = this.tokens[this.position++];
        if (field?.kind !== 'word' || !/^[A-Za-z_][\w/]*$/.test(field.text))
            throw new FilterSyntaxError('expected a property');
        const operator = this.peekWord() as Operator | undefined;
        const path = field.text.split('/').map(wireName);
        const ordering = ORDERING.includes(operator as (typeof ORDERING)[number]);
        if (ordering && !isDateTimeProperty(path)) {
            throw new FilterSyntaxError('gt, ge, lt and le are supported on date-time properties only');
        }
        if (!ordering && !EQUALITY.includes(operator as (typeof EQUALITY)[number])) {
            throw new FilterSyntaxError('only eq, ne, gt, ge, lt and le are supported');
        }
        this.position++;
        return { kind: 'compare', path, operator: operator!, value: this.parseValue() };
    }

    private parseValue(): FilterValue {
        const token = this.tokens[this.position++];
        if (token?.kind === 'string') return token.text;
        if (token?.kind !== 'word') throw new FilterSyntaxError('expected a value');
        const text = token.text;
        if (GUID.test(text) || DATE_TIME.test(text)) return text;
        if (/^(true|false)$/i.test(text)) return text.toLowerCase() === 'true';
        if (/^null$/i.test(text)) return null;
        if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
        throw new FilterSyntaxError('unsupported value');
    }
}

export function parseFilter(expression: string): FilterNode {
    return new Parser(tokenize(expression)).parse();
}

function resolve(item: unknown, path: string[]): unknown {
    let current = item;
    for (const segment of path) {
        if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
        current = (current as Record<string, unknown>)[segment];
    }
    return current;
}

function isDateTimeProperty(path: string[]): boolean {
    return /DateTime$/.test(path[path.length - 1] ?? '');
}

function equal(actual: unknown, expected: FilterValue, ignoreCase: boolean): boolean {
    if (expected === null) return actual === null || actual === undefined;
    if (typeof expected !== 'string' || typeof actual !== 'string') return actual === expected;
    return ignoreCase ? actual.toLowerCase() === expected.toLowerCase() : actual === expected;
}

/**
 * A date-time as UTC with 7 fractional digits (the service's own format), so instants compare as strings without
 * losing the sub-millisecond digits the simulator uses to order writes; undefined when not a date-time.
 */
function instant(value: unknown): string | undefined {
    if (typeof value !== 'string' || !DATE_TIME.test(value)) return undefined;
    const fraction = /\.(\d+)Z$/i.exec(value)?.[1];
    const utc = new Date(value);
    if (Number.isNaN(utc.getTime())) return undefined;
    const digits = /Z$/i.test(value) && fraction ? fraction : String(utc.getUTCMilliseconds()).padStart(3, '0');
    return `${utc.toISOString().slice(0, 19)}.${digits.slice(0, 7).padEnd(7, '0')}Z`;
}

function compare(actual: unknown, node: Extract<FilterNode, { kind: 'compare' }>, options: FilterOptions): boolean {
    const { path, operator, value } = node;
    if (operator === 'eq' || operator === 'ne') {
        const ignoreCase =
            options.ignoreCase === true ||
            (typeof value === 'string' && GUID.test(value)) ||
            ENUM_PROPERTIES.has(path[path.length - 1] ?? '');
        return equal(actual, value, ignoreCase) === (operator === 'eq');
    }
    const left = instant(actual);
    const right = instant(value);
    if (left === undefined || right === undefined) return false;
    const order = left.localeCompare(right);
    return { gt: order > 0, ge: order >= 0, lt: order < 0, le: order <= 0 }[operator];
}

export function matchesFilter(item: unknown, node: FilterNode, options: FilterOptions = {}): boolean {
    switch (node.kind) {
        case 'compare':
            return compare(resolve(item, node.path), node, options);
        case 'and':
            return matchesFilter(item, node.left, options) && matchesFilter(item, node.right, options);
        case 'or':
            return matchesFilter(item, node.left, options) || matchesFilter(item, node.right, options);
        case 'not':
            return !matchesFilter(item, node.operand, options);
    }
}

/** Whether the filter compares the given top-level property anywhere. */
export function filterNames(node: FilterNode, property: string): boolean {
    return withoutProperty(node, property) !== node;
}

/**
 * The filter as a service that silently ignores a property would apply it: every comparison on it dropped (a part
 * left with nothing to test matches everything); undefined when nothing is left.
 */
export function withoutProperty(node: FilterNode, property: string): FilterNode | undefined {
    switch (node.kind) {
        case 'compare':
            return node.path[0] === property ? undefined : node;
        case 'and':
        case 'or': {
            const left = withoutProperty(node.left, property);
            const right = withoutProperty(node.right, property);
            if (left === node.left && right === node.right) return node;
            if (node.kind === 'or' && (!left || !right)) return undefined;
            return left && right ? { kind: node.kind, left, right } : (left ?? right);
        }
        case 'not': {
            const operand = withoutProperty(node.operand, property);
            if (operand === node.operand) return node;
            return operand && { kind: 'not', operand };
        }
    }
}
