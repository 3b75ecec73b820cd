/**
 * `MS-RequestId` and `MS-CorrelationId` as Partner Center documents them: GUIDs, the request id "used to ensure
 * id-potency" (partner-api.md §6). Some Microsoft APIs act on that: a POST that repeats a request id gets the first
 * request's answer back and creates nothing. Both checks are opt-in settings of the simulator.
 */
import { errorAnswer, type SimulatorAnswer } from './http';

const GUID = /^\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?$/i;
const MAX_REMEMBERED = 10_000;

/** 400 naming the first header present that is not a GUID (never echoing its value). */
export function checkRequestIdHeaders(headers: {
    requestId: string | undefined;
    correlationId: string | undefined;
}): SimulatorAnswer | undefined {
    for (const [name, value] of [
        ['MS-RequestId', headers.requestId],
        ['MS-CorrelationId', headers.correlationId],
    ] as const) {
        if (value !== undefined && !GUID.test(value.trim())) {
            return errorAnswer(400, 'invalidRequest', `The ${name} header must be a GUID.`, name);
        }
    }
    return undefined;
}

/** The answers of POSTs by request id, for `windowMs` after they were given. */
export class RequestIdAnswers {
    private readonly answers = new Map<string, { at: number; answer: SimulatorAnswer }>();

    find(requestId: string, now: number, windowMs: number): SimulatorAnswer | undefined {
        const seen = this.answers.get(requestId.toLowerCase());
        return seen && now - seen.at <= windowMs ? seen.answer : undefined;
    }

    remember(requestId: string, answer: SimulatorAnswer, now: number, windowMs: number): void {
        for (const [id, seen] of this.answers) {
            if (now - seen.at <= windowMs && this.answers.size < MAX_REMEMBERED) break;
            this.answers.delete(id); // Oldest first (insertion order): expired, or over the bound.
        }
        this.answers.delete(requestId.toLowerCase());
        this.answers.set(requestId.toLowerCase(), { at: now, answer });
    }

    clear(): void {
        this.answers.clear();
    }
}
