import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';

import { openApiDocument } from '../shared/contract';

let body: string | undefined;

/** GET /api/openapi.json: the OpenAPI 3.1 document of this API, built from the referral's joi schema. */
export function getOpenApi(_request: HttpRequest, _context: InvocationContext): Promise<HttpResponseInit> {
    body ??= JSON.stringify(openApiDocument());
    return Promise.resolve({
        status: 200,
        headers: { 'content-type': 'application/json', 'cache-control': 'public, max-age=300' },
        body,
    });
}

// Public documentation: anonymous on purpose, and set explicitly (the only HTTP function without a function key).
app.http('getOpenApi', {
    methods: ['GET'],
    route: 'openapi.json',
    authLevel: 'anonymous',
    handler: (request, context) => getOpenApi(request, context),
});
