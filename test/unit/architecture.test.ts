/**
 * The shape of the code, checked on every run: no import cycles anywhere in the project (a cycle makes module load
 * order matter and hides which concept depends on which), and the app (functions/, shared/, index.ts: what is
 * deployed) never reaches local/, the development runtime, through any chain of imports.
 */
import { forbiddenReach, importCycles, importGraph, projectImportGraph } from '../support/importGraph';

const isApp = (file: string) => file === 'index.ts' || file.startsWith('functions/') || file.startsWith('shared/');
const isLocal = (file: string) => file.startsWith('local/');
const chain = (files: string[]) => files.join(' → ');

describe('the import graph of the project', () => {
    const graph = projectImportGraph();

    it('is read from the whole project, imports of types and re-exports included', () => {
        expect([...graph.keys()].filter(isApp).length).toBeGreaterThan(40);
        expect([...graph.keys()].filter(isLocal).length).toBeGreaterThan(20);
        expect(graph.get('index.ts')!.length).toBeGreaterThan(0);
        expect(graph.get('local/servicebus/adminHttp.ts')).toContain('local/servicebus/queueReports.ts'); // import type
    });

    it('has no import cycles', () => {
        expect(importCycles(graph).map(chain)).toEqual([]);
    });

    it('keeps the app (functions/, shared/, index.ts) from importing local/, directly or through other files', () => {
        expect(forbiddenReach(graph, isApp, isLocal).map(chain)).toEqual([]);
    });
});

describe('the checks', () => {
    const graphOf = (sources: Record<string, string>) => importGraph(Object.keys(sources), (file) => sources[file]!);

    it('find a cycle made of `import type` and `export … from`, and name it', () => {
        const graph = graphOf({
            'local/a.ts': "import type { B } from './b';\nexport const a = 1;",
            'local/b.ts': "export { c } from '../shared/c';\nexport type B = string;",
            'shared/c.ts': "import { a } from '../local/a';\nexport const c = a;",
            'shared/d.ts': "import { c } from './c';\nimport Joi from 'joi';\nexport const d = c;",
        });
        expect(importCycles(graph).map(chain)).toEqual(['local/a.ts → local/b.ts → shared/c.ts → local/a.ts']);
    });

    it('find a file that imports itself, and nothing in a graph without cycles', () => {
        expect(importCycles(graphOf({ 'x.ts': "import './x';" })).map(chain)).toEqual(['x.ts → x.ts']);
        expect(
            importCycles(graphOf({ 'x.ts': "import './y';", 'y.ts': "import './z/index';", 'z/index.ts': '' })),
        ).toEqual([]);
    });

    it('find the app reaching local/ through another file, with the chain of imports', () => {
        const graph = graphOf({
            'index.ts': "import './functions/f';",
            'functions/f.ts': "import { run } from '../scripts/tool';",
            'scripts/tool.ts': "import { startBroker } from '../local/servicebus/broker';\nexport const run = 1;",
            'local/servicebus/broker.ts': "import { x } from '../../shared/x';",
            'shared/x.ts': '',
        });
        expect(forbiddenReach(graph, isApp, isLocal).map(chain)).toEqual([
            'functions/f.ts → scripts/tool.ts → local/servicebus/broker.ts',
        ]);
    });
});
