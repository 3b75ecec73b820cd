import { HttpRequest, HttpResponse, type HttpResponseInit, InvocationContext } from '@azure/functions';

/** An InvocationContext whose log lines are kept, so a test can read every line the handler wrote. */
export function invocationContext(functionName: string, triggerMetadata: Record<string, unknown> = {}) {
    const lines: string[] = [];
    const context = new InvocationContext({
        invocationId: `test-${functionName}`,
        functionName,
        triggerMetadata,
        logHandler: (level, ...args) => lines.push(`${level} ${args.map(String).join(' ')}`),
    });
    return { context, lines };
}

export function postJson(url: string, body: unknown, headers: Record<string, string> = {}): HttpRequest {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    return new HttpRequest({
        method: 'POST',
        url,
        body: { string: text },
        headers: { 'content-type': 'application/json', ...headers },
    });
}

/** Reads a handler's answer the way a client would. */
export async function readResponse(init: HttpResponseInit) {
    const response = new HttpResponse(init);
    const text = await response.text();
    return {
        status: response.status,
        headers: response.headers,
        text,
        json: (text ? JSON.parse(text) : undefined) as Record<string, unknown> | undefined,
    };
}
