/**
 * Where the local host writes its own lines (invocation outcomes, start-up, warnings) and the app's context logs.
 *
 * Host lines never carry request or message bodies: referrals hold customers' personal data, so only names, ids,
 * outcomes and durations are written here.
 */
import { format } from 'node:util';

export type HostLogLevel = 'trace' | 'debug' | 'information' | 'warning' | 'error' | 'critical' | 'none';

/** Receives one finished line per call. Tests pass their own sink to read the lines back. */
export type LogSink = (level: HostLogLevel, line: string) => void;

const LEVEL_RANK: Record<HostLogLevel, number> = {
    trace: 0,
    debug: 1,
    information: 2,
    warning: 3,
    error: 4,
    critical: 5,
    none: 6,
};

export const consoleSink: LogSink = (level, line) => {
    const stream = LEVEL_RANK[level] >= LEVEL_RANK.warning ? process.stderr : process.stdout;
    stream.write(`${line}\n`);
};

export class HostLogger {
    private appLogsOpen = true;

    constructor(
        private readonly sink: LogSink = consoleSink,
        /** Lines below this level are dropped, as host.json `logging.logLevel.default` does. */
        private readonly minimumLevel: HostLogLevel = 'information',
    ) {}

    enabled(level: HostLogLevel): boolean {
        return LEVEL_RANK[level] >= LEVEL_RANK[this.minimumLevel] && level !== 'none';
    }

    /** A line from the host itself. */
    host(level: HostLogLevel, message: string): void {
        if (this.enabled(level)) this.sink(level, `[host] ${message}`);
    }

    /**
     * From now on the app's lines are dropped: in Azure the worker is shutting down when appTerminate hooks run, and
     * what they log never reaches the host.
     */
    closeAppLogs(): void {
        this.appLogsOpen = false;
    }

    /** A line the app wrote with `context.log/info/warn/error`, prefixed with its function name. */
    app(functionName: string, level: HostLogLevel, args: unknown[]): void {
        if (!this.appLogsOpen || !this.enabled(level)) return;
        const tag = level === 'information' ? '' : ` ${level}:`;
        this.sink(level, `[${functionName}]${tag} ${format(...args)}`);
    }
}
