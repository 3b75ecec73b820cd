import { app } from '@azure/functions';

import { openApiDocument } from '../shared/contract';
import { httpHandler } from '../shared/platform/http';

let body: string | undefined;

/** The document, built from the referral's joi schema once per process. */
function openApiBody(): string {
    body ??= JSON.stringify(openApiDocument());
    return body;
}

/** GET /api/openapi.json: the OpenAPI 3.1 document of this API. */
export const getOpenApi = httpHandler((_request, _context, render: () => string = openApiBody) =>
    Promise.resolve({
        status: 200,
        headers: { 'content-type': 'application/json', 'cache-control': 'public, max-age=300' },
        body: render(),
    }),
);

// Public documentation: anonymous on purpose, and set explicitly (the only HTTP function without a function key).
app.http('getOpenApi', {
    methods: ['GET'],
    route: 'openapi.json',
    authLevel: 'anonymous',
    handler: getOpenApi,
});
