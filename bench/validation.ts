/**
 * Benchmark 4: microseconds per validateReferral of the seed body, against a baseline measured in the same run:
 * JSON.parse of the same body's text (work the intake does on every request anyway).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { validateReferral } from '../shared/referral/request/validate';
import { median, round } from './support/stats';

export interface ValidationResult {
    validateMicros: number;
    jsonParseMicros: number;
    /** validate / JSON.parse: how many body parses one validation costs. */
    ratioToJsonParse: number;
    runs: number;
    iterationsPerRun: number;
}

function microsPerOp(work: () => void, iterations: number): number {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) work();
    return Number(process.hrtime.bigint() - start) / 1000 / iterations;
}

export function benchValidation(root: string, runs = 7, iterations = 5000): ValidationResult {
    const text = readFileSync(join(root, 'test', 'fixtures', 'seed-shared-referral.request.json'), 'utf8');
    const body = JSON.parse(text) as unknown;
    if (!validateReferral(body).ok) throw new Error('the seed body does not validate');
    let sink = 0;
    const validate = () => {
        sink += validateReferral(body).ok ? 1 : 0;
    };
    const parse = () => {
        sink += (JSON.parse(text) as object) ? 1 : 0;
    };
    // Warm up: let the JIT settle before measuring.
    microsPerOp(validate, iterations);
    microsPerOp(parse, iterations);
    const validateRuns: number[] = [];
    const parseRuns: number[] = [];
    for (let run = 0; run < runs; run++) {
        validateRuns.push(microsPerOp(validate, iterations));
        parseRuns.push(microsPerOp(parse, iterations));
    }
    if (sink === 0) throw new Error('unreachable');
    const validateMicros = median(validateRuns);
    const jsonParseMicros = median(parseRuns);
    return {
        validateMicros: round(validateMicros),
        jsonParseMicros: round(jsonParseMicros),
        ratioToJsonParse: round(validateMicros / jsonParseMicros),
        runs,
        iterationsPerRun: iterations,
    };
}
