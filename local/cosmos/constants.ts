/** Cosmos DB emulator constants, apart from the server so settings code can use them without loading it. */

/** The well-known key of Microsoft's Cosmos DB emulator; the local server accepts any key, this keeps docs alike. */
export const COSMOS_EMULATOR_KEY =
    'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==';

/** The port of Microsoft's Cosmos DB emulator. */
export const DEFAULT_COSMOS_PORT = 8081;
