/**
 * A small OData `$filter` parser and evaluator: `eq`/`ne` comparisons on property paths (`customerProfile/address/
 * country`), combined with `and`/`or`/`not` and parentheses. Values: quoted strings (`''` escapes a quote), unquoted
 * GUIDs (the service's own relatedReferrals links omit the quotes), numbers, true/false/null. Lambdas (`any`) and
 * functions are not supported and answer 400, as an unsupported query would.
 */
import { wireName } from './propertyNames';

export type FilterValue = string | number | boolean | null;

export type FilterNode =
    | { kind: 'compare'; path: string[]; operator: 'eq' | 'ne'; value: FilterValue }
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
        const operator = this.peekWord();
        if (operator !== 'eq' && operator !== 'ne') throw new FilterSyntaxError('only eq and ne are supported');
        this.position++;
        const path = field.text.split('/').map(wireName);
        return { kind: 'compare', path, operator, value: this.parseValue() };
    }

    private parseValue(): FilterValue {
        const token = this.tokens[this.position++];
        if (token?.kind === 'string') return token.text;
        if (token?.kind !== 'word') throw new FilterSyntaxError('expected a value');
        const text = token.text;
        if (GUID.test(text)) return text;
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

/** Strings compare case-insensitively (GUIDs come in either case; enum values bind case-insensitively). */
function equal(actual: unknown, expected: FilterValue): boolean {
    if (expected === null) return actual === null || actual === undefined;
    if (typeof expected === 'string')
        return typeof actual === 'string' && actual.toLowerCase() === expected.toLowerCase();
    return actual === expected;
}

export function matchesFilter(item: unknown, node: FilterNode): boolean {
    switch (node.kind) {
        case 'compare': {
            const isEqual = equal(resolve(item, node.path), node.value);
            return node.operator === 'eq' ? isEqual : !isEqual;
        }
        case 'and':
            return matchesFilter(item, node.left) && matchesFilter(item, node.right);
        case 'or':
            return matchesFilter(item, node.left) || matchesFilter(item, node.right);
        case 'not':
            return !matchesFilter(item, node.operand);
    }
}
