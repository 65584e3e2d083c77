// browser-wx.d.ts: types of the browser adapter (browser-wx.js), a wx for web pages and node.
import type { WxLike } from './wxsession';

export interface StorageLike {
    getItem(key: string): string | null;
    setItem(key: string, value: string): void;
    removeItem(key: string): void;
}

export interface BrowserWxOptions {
    /** Where `wxsessiond --dev` runs (default: the page's origin). */
    origin?: string;
    /** The simulator's test user ('test'): 1-64 of [A-Za-z0-9_.-]. */
    user?: string;
    /** Default: localStorage, else an in-memory store. */
    storage?: StorageLike;
    /** Default: the global fetch. */
    fetch?: typeof fetch;
}

export interface BrowserWx extends WxLike {
    /** Log in as another test user from the next wx.login on. */
    setUser(name: string): void;
    getUser(): string;
}

export function createBrowserWx(options?: BrowserWxOptions): BrowserWx;
export function memoryStorage(): StorageLike;
