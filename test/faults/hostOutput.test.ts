/**
 * Two hosts write to one log sink (bench/support/runtime.ts): the suite searches that log line by line (the canary,
 * the events it counts), so each host's output must reach the sink in whole lines, the second host's marked.
 */
import { PassThrough } from 'node:stream';

import { forwardLines, SECOND_HOST_PREFIX } from '../../bench/support/runtime';

it('forwards whole lines only, prefixed, with the last unterminated line at the end of the stream', async () => {
    const first = new PassThrough();
    const second = new PassThrough();
    const sink: string[] = [];
    forwardLines(first, '', (text) => sink.push(text));
    forwardLines(second, SECOND_HOST_PREFIX, (text) => sink.push(text));

    first.write('{"event":"referral.transi');
    second.write('one\ntw');
    first.write('tion"}\n{"event":"update.applied"}\n');
    second.write('o\n\nthree');
    const ended = Promise.all([first, second].map((stream) => new Promise((resolve) => stream.on('end', resolve))));
    first.end();
    second.end();
    await ended;

    expect(sink.join('').split('\n')).toEqual([
        `${SECOND_HOST_PREFIX}one`,
        '{"event":"referral.transition"}',
        '{"event":"update.applied"}',
        `${SECOND_HOST_PREFIX}two`,
        '',
        `${SECOND_HOST_PREFIX}three`,
        '',
    ]);
});
