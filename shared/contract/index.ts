export {
    documentText,
    JSON_SCHEMA_DIALECT,
    MESSAGE_SCHEMA_ID,
    MESSAGE_SCHEMA_PATH,
    OPENAPI_PATH,
    openApiDocument,
    OUTCOME_EVENT_SCHEMA_PATH,
    outcomeEventSchema,
    referralMessageSchema,
    referralRequestSchema,
    referralUpdateMessageSchema,
    UPDATE_MESSAGE_SCHEMA_PATH,
} from './documents';
export { joiToJsonSchema, type JsonSchema, UnsupportedJoiError } from './joiToJsonSchema';
