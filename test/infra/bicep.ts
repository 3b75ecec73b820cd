/**
 * A small reader of Bicep templates for tests, built on tree-sitter-bicep (no Bicep compiler can run here).
 *
 * `loadTemplate` starts at infra/main.bicep, follows `module` declarations, and returns every resource with its body
 * evaluated as far as literals, parameters (given by the caller module or their defaults), variables, loops and a few
 * pure functions allow. What cannot be evaluated (resource properties, module outputs, most functions) becomes an
 * `Unresolved` value whose text is the expression with the known parts filled in, so checks can still read it.
 */
import * as fs from 'node:fs';
import * as nodeModule from 'node:module';
import * as path from 'node:path';

import type Parser from 'tree-sitter';

// tree-sitter is loaded by Node's own loader, not Jest's: Jest evaluates a module again for each test file, and a
// second evaluation of tree-sitter's index.js in the same process breaks its `rootNode` getter (it re-reads a getter
// it patched itself). Node's module cache is shared by the test files of a worker, so the module is evaluated once.
// (Jest also replaces `createRequire`, hence the loader itself.)
const nodeLoader = nodeModule as unknown as { _load(request: string, parent: null, isMain: boolean): unknown };
const nodeRequire = (id: string): unknown => nodeLoader._load(require.resolve(id), null, false);
const TreeSitter = nodeRequire('tree-sitter') as typeof Parser;
const Bicep = nodeRequire('tree-sitter-bicep') as Parser.Language;

type SyntaxNode = Parser.SyntaxNode;

export class Unresolved {
    constructor(readonly text: string) {}
}

/** A reference to a declared resource (or a resource collection) by its symbol. */
export class ResourceRef {
    constructor(
        readonly symbol: string,
        readonly type: string,
    ) {}
}

export type Value = string | number | boolean | null | Value[] | { [key: string]: Value } | Unresolved | ResourceRef;

export interface Resource {
    file: string;
    line: number;
    symbol: string;
    /** Full type without the API version, e.g. `Microsoft.ServiceBus/namespaces/queues`. */
    type: string;
    apiVersion: string;
    existing: boolean;
    /** The `if (...)` condition text, when the resource is conditional. */
    condition?: string;
    /** The evaluated body: name, location, properties, scope... (nested resources are separate entries). */
    body: { [key: string]: Value };
}

export interface ParamInfo {
    file: string;
    line: number;
    name: string;
    type: string;
    hasDefault: boolean;
    secure: boolean;
}

export interface OutputInfo {
    file: string;
    line: number;
    name: string;
    value: Value;
}

export interface SyntaxProblem {
    file: string;
    line: number;
    column: number;
    message: string;
}

export interface Template {
    resources: Resource[];
    params: ParamInfo[];
    outputs: OutputInfo[];
    /** Call expressions by function name, across all files read (for `listKeys` and friends). */
    calls: { file: string; line: number; name: string }[];
    /** Files read from the module graph, relative to the infra folder. */
    files: string[];
}

/** Bicep sources by path relative to the infra folder (`main.bicep`, `app/cosmos.bicep`...). */
export type SourceFiles = Map<string, string>;

let parser: Parser | undefined;

/** The root node of a Bicep source text. */
export function parseBicep(text: string): SyntaxNode {
    if (!parser) {
        parser = new TreeSitter();
        parser.setLanguage(Bicep);
    }
    // The default buffer is too small for large files.
    return parser.parse(text, undefined, { bufferSize: Math.max(32 * 1024, text.length * 2) }).rootNode;
}

export function syntaxProblems(file: string, text: string): SyntaxProblem[] {
    const problems: SyntaxProblem[] = [];
    const visit = (node: SyntaxNode): void => {
        if (node.type === 'ERROR' || node.isMissing) {
            const what = node.isMissing
                ? `missing ${node.type}`
                : `unexpected ${JSON.stringify(node.text.slice(0, 40))}`;
            problems.push({
                file,
                line: node.startPosition.row + 1,
                column: node.startPosition.column + 1,
                message: `syntax error: ${what}`,
            });
            if (node.type === 'ERROR') return;
        }
        for (const child of node.children) visit(child);
    };
    visit(parseBicep(text));
    return problems;
}

/** Every `.bicep` file under a folder, keyed by path relative to it (with `/` separators). */
export function readSources(infraDir: string): SourceFiles {
    const files: SourceFiles = new Map();
    const walk = (dir: string): void => {
        for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
            const full = path.join(dir, entry.name);
            if (entry.isDirectory()) walk(full);
            else if (entry.name.endsWith('.bicep') || entry.name.endsWith('.json')) {
                files.set(path.relative(infraDir, full).split(path.sep).join('/'), fs.readFileSync(full, 'utf8'));
            }
        }
    };
    walk(infraDir);
    return files;
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluation

interface Scope {
    file: string;
    dir: string;
    params: Map<string, Value>;
    vars: Map<string, SyntaxNode>;
    varValues: Map<string, Value>;
    resources: Map<string, string>;
    modules: Set<string>;
    loop: Map<string, Value>;
    sources: SourceFiles;
}

const BUSY = new Unresolved('<cycle>');

function isPlainObject(value: Value | undefined): value is { [key: string]: Value } {
    return typeof value === 'object' && value !== null && !Array.isArray(value) && !isOpaque(value);
}

function isOpaque(value: Value): value is Unresolved | ResourceRef {
    return value instanceof Unresolved || value instanceof ResourceRef;
}

function isPrimitive(value: Value): value is string | number | boolean | null {
    return value === null || ['string', 'number', 'boolean'].includes(typeof value);
}

/** The value as Bicep-like source text (strings quoted), for messages and for reading unresolved expressions. */
export function render(value: Value): string {
    if (value instanceof Unresolved) return value.text;
    if (value instanceof ResourceRef) return value.symbol;
    if (typeof value === 'string') return `'${value}'`;
    if (Array.isArray(value)) return `[${value.map(render).join(', ')}]`;
    if (isPlainObject(value)) {
        return `{ ${Object.entries(value)
            .map(([k, v]) => `${k}: ${render(v)}`)
            .join(', ')} }`;
    }
    return String(value);
}

function withLoop(scope: Scope, bindings: [string, Value][]): Scope {
    const loop = new Map(scope.loop);
    for (const [name, value] of bindings) loop.set(name, value);
    return { ...scope, loop };
}

function unescape(text: string): string {
    return text.replace(/\\(.)/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t' })[c] ?? c);
}

function evalString(node: SyntaxNode, scope: Scope): Value {
    const parts: Value[] = [];
    for (const child of node.namedChildren) {
        if (child.type === 'string_content') parts.push(child.text);
        else if (child.type === 'escape_sequence') parts.push(unescape(child.text));
        else if (child.type === 'interpolation') parts.push(evaluate(child.namedChildren[0]!, scope));
    }
    if (parts.every((p) => typeof p === 'string' || typeof p === 'number' || typeof p === 'boolean')) {
        return parts.map(String).join('');
    }
    const text = parts.map((p) => (typeof p === 'string' ? p : '${' + render(p) + '}')).join('');
    return new Unresolved(`'${text}'`);
}

const FUNCTIONS: Record<string, (args: Value[]) => Value | undefined> = {
    empty: ([v]) => {
        if (typeof v === 'string' || Array.isArray(v)) return v.length === 0;
        if (v === null) return true;
        if (v !== undefined && isPlainObject(v)) return Object.keys(v).length === 0;
        return undefined;
    },
    length: ([v]) => (typeof v === 'string' || Array.isArray(v) ? v.length : undefined),
    range: ([start, count]) =>
        typeof start === 'number' && typeof count === 'number'
            ? Array.from({ length: count }, (_, i) => start + i)
            : undefined,
    toLower: ([v]) => (typeof v === 'string' ? v.toLowerCase() : undefined),
    toUpper: ([v]) => (typeof v === 'string' ? v.toUpperCase() : undefined),
    take: ([v, n]) => (typeof v === 'string' && typeof n === 'number' ? v.slice(0, n) : undefined),
    union: (args) => {
        if (args.every(isPlainObject)) return Object.assign({}, ...args) as { [key: string]: Value };
        return undefined;
    },
    concat: (args) => (args.every(Array.isArray) ? args.flat() : undefined),
};

function evalCall(node: SyntaxNode, scope: Scope): Value {
    const fn = node.childForFieldName('function')!;
    const argsNode = node.childForFieldName('arguments');
    const args = (argsNode?.namedChildren ?? []).map((a) => evaluate(a, scope));
    const name = fn.text;
    const known = FUNCTIONS[name]?.(args);
    if (known !== undefined) return known;
    return new Unresolved(`${name}(${args.map(render).join(', ')})`);
}

const BINARY: Record<string, (a: Value, b: Value) => Value | undefined> = {
    '==': (a, b) => (isPrimitive(a) && isPrimitive(b) ? a === b : undefined),
    '!=': (a, b) => (isPrimitive(a) && isPrimitive(b) ? a !== b : undefined),
    '&&': (a, b) => (typeof a === 'boolean' && typeof b === 'boolean' ? a && b : undefined),
    '||': (a, b) => (typeof a === 'boolean' && typeof b === 'boolean' ? a || b : undefined),
    '+': (a, b) => (typeof a === 'number' && typeof b === 'number' ? a + b : undefined),
    '-': (a, b) => (typeof a === 'number' && typeof b === 'number' ? a - b : undefined),
    '*': (a, b) => (typeof a === 'number' && typeof b === 'number' ? a * b : undefined),
    '/': (a, b) => (typeof a === 'number' && typeof b === 'number' && b !== 0 ? Math.trunc(a / b) : undefined),
    '%': (a, b) => (typeof a === 'number' && typeof b === 'number' && b !== 0 ? a % b : undefined),
    '<': (a, b) => (typeof a === 'number' && typeof b === 'number' ? a < b : undefined),
    '>': (a, b) => (typeof a === 'number' && typeof b === 'number' ? a > b : undefined),
    '<=': (a, b) => (typeof a === 'number' && typeof b === 'number' ? a <= b : undefined),
    '>=': (a, b) => (typeof a === 'number' && typeof b === 'number' ? a >= b : undefined),
    '??': (a, b) => (a === null ? b : isOpaque(a) ? undefined : a),
};

function evalIdentifier(name: string, scope: Scope): Value {
    if (scope.loop.has(name)) return scope.loop.get(name)!;
    if (scope.params.has(name)) return scope.params.get(name)!;
    if (scope.vars.has(name)) {
        if (!scope.varValues.has(name)) {
            scope.varValues.set(name, BUSY);
            scope.varValues.set(name, evaluate(scope.vars.get(name)!, scope));
        }
        return scope.varValues.get(name)!;
    }
    if (scope.resources.has(name)) return new ResourceRef(name, scope.resources.get(name)!);
    return new Unresolved(name);
}

export function evaluate(node: SyntaxNode, scope: Scope): Value {
    switch (node.type) {
        case 'string':
            return evalString(node, scope);
        case 'number':
            return Number(node.text);
        case 'boolean':
            return node.text === 'true';
        case 'null':
            return null;
        case 'array':
            return node.namedChildren.filter((c) => c.type !== 'comment').map((c) => evaluate(c, scope));
        case 'object':
            return evalObject(node, scope);
        case 'identifier':
            return evalIdentifier(node.text, scope);
        case 'parenthesized_expression':
            return evaluate(node.namedChildren[0]!, scope);
        case 'call_expression':
            return evalCall(node, scope);
        case 'ternary_expression': {
            const condition = evaluate(node.childForFieldName('condition')!, scope);
            const yes = node.childForFieldName('consequence')!;
            const no = node.childForFieldName('alternative')!;
            if (typeof condition === 'boolean') return evaluate(condition ? yes : no, scope);
            return new Unresolved(
                `${render(condition)} ? ${render(evaluate(yes, scope))} : ${render(evaluate(no, scope))}`,
            );
        }
        case 'binary_expression': {
            const left = evaluate(node.childForFieldName('left')!, scope);
            const right = evaluate(node.childForFieldName('right')!, scope);
            const op = node.childForFieldName('operator')!.text;
            const result = BINARY[op]?.(left, right);
            return result !== undefined ? result : new Unresolved(`${render(left)} ${op} ${render(right)}`);
        }
        case 'unary_expression': {
            const op = node.childForFieldName('operator')!.text;
            const arg = evaluate(node.childForFieldName('argument')!, scope);
            if (op === '!' && typeof arg === 'boolean') return !arg;
            if (op === '-' && typeof arg === 'number') return -arg;
            return new Unresolved(`${op}${render(arg)}`);
        }
        case 'member_expression': {
            const object = evaluate(node.childForFieldName('object')!, scope);
            const property = node.childForFieldName('property')!.text;
            if (isPlainObject(object) && property in object) return object[property]!;
            return new Unresolved(`${render(object)}.${property}`);
        }
        case 'subscript_expression': {
            const object = evaluate(node.childForFieldName('object')!, scope);
            const index = evaluate(node.childForFieldName('index')!, scope);
            if (object instanceof ResourceRef) return object;
            if (Array.isArray(object) && typeof index === 'number' && index < object.length) return object[index]!;
            if (isPlainObject(object) && typeof index === 'string' && index in object) return object[index]!;
            return new Unresolved(`${render(object)}[${render(index)}]`);
        }
        case 'resource_expression': {
            const nested = node.childForFieldName('resource')!.text;
            return evalIdentifier(nested, scope);
        }
        case 'for_statement':
            return expandLoop(node, scope, (body, loopScope) => evaluate(body, loopScope)) ?? new Unresolved(node.text);
        default:
            return new Unresolved(node.text);
    }
}

function propertyKey(property: SyntaxNode, scope: Scope): string | undefined {
    const key = property.namedChildren[0];
    if (!key) return undefined;
    if (key.type === 'identifier') return key.text;
    const value = evaluate(key, scope);
    return typeof value === 'string' ? value : render(value);
}

function evalObject(node: SyntaxNode, scope: Scope): { [key: string]: Value } {
    const result: { [key: string]: Value } = {};
    for (const property of node.namedChildren) {
        if (property.type !== 'object_property') continue;
        const children = property.namedChildren.filter((c) => c.type !== 'comment');
        if (children[0]?.type === 'resource_declaration') continue; // a nested resource, read separately
        const key = propertyKey(property, scope);
        const valueNode = children[1];
        if (key === undefined || !valueNode) continue;
        result[key] = evaluate(valueNode, scope);
    }
    return result;
}

/** Runs `each` once per element of a `[for ...]` loop, or returns undefined when the iterable is not known. */
function expandLoop<T>(
    node: SyntaxNode,
    scope: Scope,
    each: (body: SyntaxNode, loopScope: Scope) => T,
): T[] | undefined {
    const body = node.childForFieldName('body')!;
    const parameters = node.namedChildren.find((c) => c.type === 'for_loop_parameters');
    const itemName = parameters
        ? parameters.namedChildren.find((c) => c.type === 'loop_variable')?.text
        : node.childForFieldName('initializer')?.text;
    const indexName = parameters?.namedChildren.find((c) => c.type === 'loop_enumerator')?.text;
    const iterableNode = node.namedChildren.find(
        (c) => c !== body && c.type !== 'for_loop_parameters' && c !== node.childForFieldName('initializer'),
    );
    const iterable = iterableNode ? evaluate(iterableNode, scope) : undefined;
    if (!Array.isArray(iterable)) return undefined;
    return iterable.map((item, i) => {
        const bindings: [string, Value][] = [];
        if (itemName) bindings.push([itemName, item]);
        if (indexName) bindings.push([indexName, i]);
        return each(body, withLoop(scope, bindings));
    });
}

// ---------------------------------------------------------------------------------------------------------------
// Declarations

function declarationParts(node: SyntaxNode): { symbol: string; typeText: string; value: SyntaxNode | undefined } {
    const named = node.namedChildren.filter((c) => c.type !== 'comment');
    const symbol = named[0]!.text;
    const typeNode = named[1]!;
    const typeText = typeNode.type === 'string' ? typeNode.text.slice(1, -1) : typeNode.text;
    return { symbol, typeText, value: named[named.length - 1] };
}

function hasDecorator(node: SyntaxNode, name: string): boolean {
    const previous = node.previousNamedSibling;
    if (previous?.type !== 'decorators') return false;
    return previous.namedChildren.some((d) => d.text.startsWith(`@${name}(`));
}

function splitType(typeText: string, parentType: string | undefined): { type: string; apiVersion: string } {
    const [rawType, apiVersion = ''] = typeText.split('@');
    const type = parentType && !rawType!.includes('/') ? `${parentType}/${rawType}` : rawType!;
    return { type, apiVersion };
}

/** Reads the body of a resource or module (`{...}`, `if (...) {...}`, `[for ...: {...}]`) into instances. */
function instances(
    value: SyntaxNode,
    scope: Scope,
): { object: SyntaxNode; scope: Scope; condition?: string; loop: boolean }[] {
    if (value.type === 'object') return [{ object: value, scope, loop: false }];
    if (value.type === 'if_statement') {
        const condition = value.namedChildren.find((c) => c.type === 'parenthesized_expression');
        const object = value.namedChildren.find((c) => c.type === 'object')!;
        return [{ object, scope, condition: condition?.text, loop: false }];
    }
    if (value.type === 'for_statement') {
        const body = value.childForFieldName('body')!;
        const object = body.type === 'if_statement' ? body.namedChildren.find((c) => c.type === 'object')! : body;
        const expanded = expandLoop(value, scope, (_b, loopScope) => ({ object, scope: loopScope, loop: true }));
        return expanded ?? [{ object, scope, loop: true }];
    }
    return [];
}

interface Collector {
    template: Template;
    sources: SourceFiles;
    stack: string[];
}

function collectResource(
    node: SyntaxNode,
    scope: Scope,
    parent: { type: string; apiVersion: string } | undefined,
    collector: Collector,
): void {
    const { symbol, typeText, value } = declarationParts(node);
    const split = splitType(typeText, parent?.type);
    const apiVersion = split.apiVersion || parent?.apiVersion || '';
    const existing = node.children.some((c) => c.type === 'existing');
    if (!value) return;
    for (const instance of instances(value, scope)) {
        const body = evalObject(instance.object, instance.scope);
        const type = split.type;
        collector.template.resources.push({
            file: scope.file,
            line: node.startPosition.row + 1,
            symbol,
            type,
            apiVersion,
            existing,
            condition: instance.condition,
            body,
        });
        for (const property of instance.object.namedChildren) {
            const nested = property.namedChildren[0];
            if (property.type === 'object_property' && nested?.type === 'resource_declaration') {
                collectResource(nested, instance.scope, { type, apiVersion }, collector);
            }
        }
    }
}

function registerResourceSymbols(
    node: SyntaxNode,
    parentType: string | undefined,
    resources: Map<string, string>,
): void {
    const { symbol, typeText, value } = declarationParts(node);
    const { type } = splitType(typeText, parentType);
    resources.set(symbol, type);
    const bodies = value ? [value, ...value.namedChildren] : [];
    for (const body of bodies) {
        if (body.type !== 'object') continue;
        for (const property of body.namedChildren) {
            const nested = property.namedChildren[0];
            if (property.type === 'object_property' && nested?.type === 'resource_declaration') {
                registerResourceSymbols(nested, type, resources);
            }
        }
    }
}

function collectFile(file: string, suppliedParams: Map<string, Value>, collector: Collector): void {
    const text = collector.sources.get(file);
    if (text === undefined) throw new Error(`module file not found: ${file}`);
    if (collector.stack.includes(file)) return;
    collector.stack.push(file);
    if (!collector.template.files.includes(file)) collector.template.files.push(file);
    const root = parseBicep(text);
    const scope: Scope = {
        file,
        dir: path.posix.dirname(file),
        params: new Map(),
        vars: new Map(),
        varValues: new Map(),
        resources: new Map(),
        modules: new Set(),
        loop: new Map(),
        sources: collector.sources,
    };
    const statements = root.namedChildren;
    for (const node of statements) {
        if (node.type === 'variable_declaration') {
            const named = node.namedChildren.filter((c) => c.type !== 'comment');
            scope.vars.set(named[0]!.text, named[named.length - 1]!);
        } else if (node.type === 'resource_declaration') {
            registerResourceSymbols(node, undefined, scope.resources);
        } else if (node.type === 'module_declaration') {
            scope.modules.add(declarationParts(node).symbol);
        }
    }
    // Parameters: what the caller gave, else the default, else unknown.
    for (const node of statements) {
        if (node.type !== 'parameter_declaration') continue;
        const named = node.namedChildren.filter((c) => c.type !== 'comment');
        const name = named[0]!.text;
        const typeNode = named[1];
        const defaultNode = named.length > 2 ? named[named.length - 1] : undefined;
        collector.template.params.push({
            file,
            line: node.startPosition.row + 1,
            name,
            type: typeNode?.text ?? '',
            hasDefault: defaultNode !== undefined,
            secure: hasDecorator(node, 'secure'),
        });
        if (suppliedParams.has(name)) scope.params.set(name, suppliedParams.get(name)!);
        else if (defaultNode) scope.params.set(name, evaluate(defaultNode, scope));
        else scope.params.set(name, new Unresolved(name));
    }
    collectCalls(root, file, collector.template);
    for (const node of statements) {
        if (node.type === 'resource_declaration') collectResource(node, scope, undefined, collector);
        else if (node.type === 'module_declaration') collectModule(node, scope, collector);
        else if (node.type === 'output_declaration') {
            const named = node.namedChildren.filter((c) => c.type !== 'comment');
            collector.template.outputs.push({
                file,
                line: node.startPosition.row + 1,
                name: named[0]!.text,
                value: evaluate(named[named.length - 1]!, scope),
            });
        }
    }
    collector.stack.pop();
}

function collectModule(node: SyntaxNode, scope: Scope, collector: Collector): void {
    const { typeText, value } = declarationParts(node);
    if (!value || typeText.startsWith('br') || typeText.startsWith('ts')) return; // registry modules: not followed
    const target = path.posix.normalize(path.posix.join(scope.dir, typeText));
    for (const instance of instances(value, scope)) {
        const body = evalObject(instance.object, instance.scope);
        const params = body.params;
        const supplied = new Map<string, Value>(isPlainObject(params) ? Object.entries(params) : []);
        collectFile(target, supplied, collector);
    }
}

function collectCalls(root: SyntaxNode, file: string, template: Template): void {
    const visit = (node: SyntaxNode): void => {
        if (node.type === 'call_expression') {
            const fn = node.childForFieldName('function')!;
            const name = fn.type === 'member_expression' ? fn.childForFieldName('property')!.text : fn.text;
            template.calls.push({ file, line: node.startPosition.row + 1, name });
        }
        for (const child of node.namedChildren) visit(child);
    };
    visit(root);
}

/** Reads the template whose entry point is `main.bicep` in `sources`, with `params` given to it (else defaults). */
export function loadTemplate(sources: SourceFiles, entry = 'main.bicep', params: Record<string, Value> = {}): Template {
    const template: Template = { resources: [], params: [], outputs: [], calls: [], files: [] };
    collectFile(entry, new Map(Object.entries(params)), { template, sources, stack: [] });
    return template;
}

/** The value at a dotted path in a resource body (`properties.siteConfig.ftpsState`), or undefined. */
export function get(resource: Resource, dottedPath: string): Value | undefined {
    let current: Value | undefined = resource.body;
    for (const key of dottedPath.split('.')) {
        if (current === undefined || !isPlainObject(current)) return undefined;
        current = current[key];
    }
    return current;
}

/** Every `name: value` leaf of a resource body, with dotted paths. */
export function* properties(resource: Resource): Generator<[string, Value]> {
    function* walk(prefix: string, value: Value): Generator<[string, Value]> {
        if (isPlainObject(value)) {
            for (const [key, inner] of Object.entries(value)) yield* walk(prefix ? `${prefix}.${key}` : key, inner);
        } else {
            yield [prefix, value];
        }
    }
    yield* walk('', resource.body);
}

export { isPlainObject };
