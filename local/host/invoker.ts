/**
 * One invocation of a registered function, the way the Functions Node worker runs it: a real `InvocationContext`,
 * preInvocation hooks (which may swap the inputs or the handler), the handler, postInvocation hooks (which may swap
 * the result or clear the error), then the outcome. Writes exactly one host line per invocation.
 */
import { randomUUID } from 'node:crypto';

import { type EffectiveFunctionOptions, InvocationContext, type TriggerMetadata } from '@azure/functions';

import { type CoreFunctionMetadata, type RegisteredFunction } from './functionsCore';
import { type AppHookState, postInvocationContext, preInvocationContext, runHooks } from './hooks';
import { type HostLogger } from './hostLog';

/** The binding key the library uses for the return value. */
const RETURN_BINDING = '$return';

function isTriggerType(type: string): boolean {
    return /trigger$/i.test(type);
}

/** `context.options`, built from the registered bindings exactly as the library's own converter does. */
export function effectiveOptions(metadata: CoreFunctionMetadata): EffectiveFunctionOptions {
    let trigger: EffectiveFunctionOptions['trigger'] | undefined;
    let returnBinding: EffectiveFunctionOptions['return'];
    const extraInputs: EffectiveFunctionOptions['extraInputs'] = [];
    const extraOutputs: EffectiveFunctionOptions['extraOutputs'] = [];
    for (const [name, binding] of Object.entries(metadata.bindings)) {
        const option = { ...binding, name };
        if (isTriggerType(binding.type)) trigger = option;
        else if (name === RETURN_BINDING) returnBinding = option;
        else if (binding.direction === 'in') extraInputs.push(option);
        else extraOutputs.push(option);
    }
    if (!trigger) throw new Error(`Function "${metadata.name}" has no trigger binding.`);
    return { trigger, return: returnBinding, extraInputs, extraOutputs };
}

export function triggerBinding(metadata: CoreFunctionMetadata): EffectiveFunctionOptions['trigger'] {
    return effectiveOptions(metadata).trigger;
}

export interface InvocationOutcome {
    invocationId: string;
    result: unknown;
    context: InvocationContext;
}

/** Raised when the handler (or a hook) failed; carries the invocation id for the caller's own log line. */
export class InvocationFailedError extends Error {
    constructor(
        readonly invocationId: string,
        override readonly cause: unknown,
    ) {
        super(`Invocation ${invocationId} failed`);
        this.name = 'InvocationFailedError';
    }
}

export interface InvokerDependencies {
    logger: HostLogger;
    hookState: AppHookState;
}

/** The type of a thrown value, for lines that must not carry its message. */
export function describeError(error: unknown): string {
    if (error instanceof Error) return error.name;
    return typeof error;
}

/**
 * What the Functions host logs for a failed invocation: the worker sends the error's message and stack, and the host
 * writes them to its log (Application Insights in Azure). So a thrown error's message must never carry customer data.
 */
export function failureDetails(functionName: string, error: unknown): string {
    const message = error instanceof Error ? error.message : typeof error === 'string' ? error : describeError(error);
    const stack = error instanceof Error && error.stack ? error.stack : message;
    return `Exception while executing function: Functions.${functionName}. Result: Failure\nException: ${message}\nStack: ${stack}`;
}

export class FunctionInvoker {
    constructor(private readonly deps: InvokerDependencies) {}

    async invoke(
        registered: RegisteredFunction,
        inputs: unknown[],
        triggerMetadata: TriggerMetadata | undefined,
        describeResult: (result: unknown) => string = () => '',
    ): Promise<InvocationOutcome> {
        const { logger, hookState } = this.deps;
        const functionName = registered.metadata.name;
        const invocationId = randomUUID();
        const started = process.hrtime.bigint();
        const context = new InvocationContext({
            invocationId,
            functionName,
            triggerMetadata,
            options: effectiveOptions(registered.metadata),
            logHandler: (level, ...args) => logger.app(functionName, level, args),
        });
        const elapsed = () => `${Number((process.hrtime.bigint() - started) / 1_000_000n)}ms`;
        let failure: { error: unknown } | undefined;
        let result: unknown;
        let detail = '';
        try {
            const hookData: Record<string, unknown> = {};
            const pre = preInvocationContext(hookState, hookData, context, inputs, registered.handler);
            await runHooks('preInvocation', pre);
            const post = postInvocationContext(hookState, hookData, context, pre.inputs);
            try {
                post.result = await pre.functionCallback(...pre.inputs, context);
            } catch (error) {
                post.error = error;
            }
            await runHooks('postInvocation', post);
            // Like the worker: a postInvocation hook that clears `error` turns the failure into a success.
            if (post.error !== null && post.error !== undefined) failure = { error: post.error };
            else {
                result = post.result;
                detail = describeResult(result);
            }
        } catch (error) {
            failure = { error };
        }
        if (failure) {
            logger.host(
                'error',
                `Executed 'Functions.${functionName}' (Failed, Id=${invocationId}, Duration=${elapsed()}, Error=${describeError(failure.error)})`,
            );
            logger.host('error', failureDetails(functionName, failure.error));
            throw new InvocationFailedError(invocationId, failure.error);
        }
        logger.host(
            'information',
            `Executed 'Functions.${functionName}' (Succeeded, Id=${invocationId}, Duration=${elapsed()}${detail})`,
        );
        return { invocationId, result, context };
    }
}
