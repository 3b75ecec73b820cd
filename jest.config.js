/** @type {import('jest').Config} */
module.exports = {
    testEnvironment: 'node',
    roots: ['<rootDir>/test'],
    testMatch: ['**/*.test.ts'],
    transform: {
        '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
    },
    // The Functions worker injects '@azure/functions-core' at run time; tests get the same stand-in the local host uses.
    moduleNameMapper: { '^@azure/functions-core$': '<rootDir>/local/host/functionsCore.ts' },
    testTimeout: 30000,
};
