// browser-wx.d.ts: types of the browser adapter (browser-wx.js), a wx for web pages and node.
import type { WxLike, UserProfile } from './wxsession';

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
    /** The nickName signed into rawData (default: the simulator's anonymous '微信用户'). */
    nickName?: string;
    /** Default: localStorage, else an in-memory store. */
    storage?: StorageLike;
    /** Default: the global fetch. */
    fetch?: typeof fetch;
}

export interface BrowserWx extends WxLike {
    /** getUserInfo's answer plus encryptedData and iv when the simulator gives them. */
    getUserProfile(params: {
        desc?: string;
        success?: (r: UserProfile) => void;
        fail?: (e: any) => void;
    }): void;
    /** Log in as another test user from the next wx.login on, optionally with a nickName. */
    setUser(name: string, nickName?: string): void;
    getUser(): string;
    /** The nickName given to createBrowserWx or setUser, or null (the anonymous profile). */
    getNickName(): string | null;
}

export function createBrowserWx(options?: BrowserWxOptions): BrowserWx;
export function memoryStorage(): StorageLike;
