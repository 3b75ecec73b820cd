/** @type {import('jest').Config} */
module.exports = {
    testEnvironment: 'node',
    roots: ['<rootDir>/test'],
    testMatch: ['**/*.test.ts'],
    // Transpile only (tsconfig's isolatedModules): type-checking is its own gate (`npm run typecheck`), which keeps the test run fast.
    transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
    // The Functions worker injects '@azure/functions-core' at run time; tests get the same stand-in the local host uses.
    moduleNameMapper: { '^@azure/functions-core$': '<rootDir>/local/host/functionsCore.ts' },
    testTimeout: 30000,
};
