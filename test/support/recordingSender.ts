import type { ServiceBusMessage } from '@azure/service-bus';

import type { MessageSender } from '../../shared/platform/serviceBus';

/** A MessageSender that keeps what it was given; `failWith` makes the next sends fail like an unreachable queue. */
export class RecordingSender implements MessageSender {
    readonly sent: ServiceBusMessage[] = [];
    failWith?: Error;

    send(message: ServiceBusMessage): Promise<void> {
        if (this.failWith) return Promise.reject(this.failWith);
        this.sent.push(structuredClone(message));
        return Promise.resolve();
    }
}
