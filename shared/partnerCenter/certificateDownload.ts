/**
 * Downloads the certificate a Partner Center webhook names (X-MS-Certificate-Url) and keeps it by URL until it
 * expires. The URL has been checked against PARTNER_CENTER_WEBHOOK_CERT_HOSTS before it gets here; the download
 * itself is bounded in time and size and follows no redirect (a redirect could lead to any host). Concurrent
 * requests for one URL share one download; a failed download is not kept, so the next request tries again.
 */
import type { X509Certificate } from 'node:crypto';

import { readCertificates } from './certificates';

export type CertificateLoadProblem = 'certificateUnavailable' | 'certificateUnreadable';

/** Why a certificate could not be had: a code, never the URL or the answer. */
export class CertificateLoadError extends Error {
    constructor(readonly code: CertificateLoadProblem) {
        super(
            code === 'certificateUnavailable' ? 'The certificate could not be downloaded.' : 'Unreadable certificate.',
        );
        this.name = 'CertificateLoadError';
    }
}

/** The certificates at a URL: the leaf first, then any intermediates delivered with it. */
export interface CertificateSource {
    load(url: URL): Promise<X509Certificate[]>;
}

export interface CertificateDownloadOptions {
    timeoutMs?: number;
    maxBytes?: number;
    /** URLs kept at once; the oldest goes first. */
    maxEntries?: number;
    now?: () => number;
}

const DEFAULTS = { timeoutMs: 10_000, maxBytes: 64 * 1024, maxEntries: 32 } as const;

interface Entry {
    certificates: Promise<X509Certificate[]>;
    /** Epoch ms: the leaf's validTo once downloaded. */
    expiresAt: number;
}

export class CertificateCache implements CertificateSource {
    private readonly entries = new Map<string, Entry>();
    private readonly timeoutMs: number;
    private readonly maxBytes: number;
    private readonly maxEntries: number;
    private readonly now: () => number;

    constructor(options: CertificateDownloadOptions = {}) {
        this.timeoutMs = options.timeoutMs ?? DEFAULTS.timeoutMs;
        this.maxBytes = options.maxBytes ?? DEFAULTS.maxBytes;
        this.maxEntries = options.maxEntries ?? DEFAULTS.maxEntries;
        this.now = options.now ?? Date.now;
    }

    load(url: URL): Promise<X509Certificate[]> {
        const key = url.href;
        const cached = this.entries.get(key);
        if (cached && cached.expiresAt > this.now()) return cached.certificates;
        this.entries.delete(key);
        const entry: Entry = { certificates: this.download(url), expiresAt: Infinity };
        this.entries.set(key, entry);
        while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
        entry.certificates.then(
            ([leaf]) => {
                entry.expiresAt = Date.parse(leaf!.validTo);
            },
            () => {
                if (this.entries.get(key) === entry) this.entries.delete(key);
            },
        );
        return entry.certificates;
    }

    private async download(url: URL): Promise<X509Certificate[]> {
        const bytes = await this.fetchBytes(url);
        try {
            return readCertificates(bytes);
        } catch {
            throw new CertificateLoadError('certificateUnreadable');
        }
    }

    private async fetchBytes(url: URL): Promise<Buffer> {
        const signal = AbortSignal.timeout(this.timeoutMs);
        try {
            const response = await fetch(url, { redirect: 'manual', signal });
            if (response.status !== 200 || !response.body) {
                await response.body?.cancel();
                throw new CertificateLoadError('certificateUnavailable');
            }
            if (Number(response.headers.get('content-length')) > this.maxBytes) {
                await response.body.cancel();
                throw new CertificateLoadError('certificateUnavailable');
            }
            const chunks: Uint8Array[] = [];
            let size = 0;
            for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
                size += chunk.byteLength;
                if (size > this.maxBytes) throw new CertificateLoadError('certificateUnavailable');
                chunks.push(chunk);
            }
            return Buffer.concat(chunks);
        } catch (error) {
            if (error instanceof CertificateLoadError) throw error;
            throw new CertificateLoadError('certificateUnavailable');
        }
    }
}
