/** Syntax gate: no Bicep compiler runs here, so every .bicep file must at least parse with tree-sitter-bicep. */
import { checkSyntax } from './checks';
import { infraSources, mutate } from './helpers';

describe('Bicep syntax (tree-sitter-bicep)', () => {
    const sources = infraSources();
    const bicepFiles = [...sources.keys()].filter((f) => f.endsWith('.bicep'));

    it('finds the template and its modules', () => {
        expect(bicepFiles).toEqual(
            expect.arrayContaining(['main.bicep', 'app/functionapp.bicep', 'app/servicebus.bicep']),
        );
    });

    it.each(bicepFiles)('%s parses without ERROR or MISSING nodes', (file) => {
        expect(checkSyntax(new Map([[file, sources.get(file)!]]))).toEqual([]);
    });

    it('reports file:line of a syntax error', () => {
        const broken = mutate(
            sources,
            'app/servicebus.bicep',
            "minimumTlsVersion: '1.2'",
            "minimumTlsVersion: '1.2\n    oops: [\n",
        );
        const problems = checkSyntax(broken);
        expect(problems.length).toBeGreaterThan(0);
        expect(problems[0]).toMatch(/^app\/servicebus\.bicep:\d+:\d+ syntax error/);
    });

    it('reports an unclosed object', () => {
        const broken = mutate(sources, 'main.bicep', /\n}\n\nmodule identity/, '\n\nmodule identity');
        expect(checkSyntax(broken).join('\n')).toMatch(/^main\.bicep:\d+/);
    });
});
