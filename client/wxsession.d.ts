// wxsession.d.ts: types of the wxsession client (wxsession.js).

/** wx.request's success value. */
export interface WxResponse<T = any> {
    data: T;
    statusCode: number;
    header?: Record<string, string>;
    errMsg?: string;
}

/** The error handed to `fail` and rejected with. */
export interface WxSessionError extends Error {
    name: 'WxSessionError';
    /**
     * A server reason (ERR_SESSION_EXPIRED, ERR_SESSION_KEY_EXCHANGE_FAILED,
     * ERR_UNTRUSTED_RAW_DATA) after the retries, or a client code: ERR_MALFORMED_RAW_DATA,
     * ERR_WX_LOGIN_FAILED, ERR_WX_GET_USER_INFO_FAILED, ERR_REQUEST_FAILED, ERR_INVALID_OPTIONS.
     */
    code: string;
    /** wx's failure text, e.g. "request:fail timeout". */
    errMsg: string;
    /** The server's reason when the server refused the session. */
    reason?: string;
    /** The server's `error` object ({name, message, detail?}). */
    detail?: { name?: string; message?: string; detail?: unknown };
    /** The server's answer when it refused the session. */
    response?: WxResponse;
    cause?: unknown;
}

export interface Callbacks<T> {
    success?: (res: T) => void;
    fail?: (err: WxSessionError) => void;
    /** Called exactly once, after success or fail. */
    complete?: (resOrErr: T | WxSessionError) => void;
}

/** wx.request's options; any other wx.request option is passed through. */
export interface RequestOptions extends Callbacks<WxResponse> {
    url: string;
    data?: string | object | ArrayBuffer;
    /** Your headers; kept, with X-WX-Code (and on login X-WX-RawData, X-WX-Signature) added. */
    header?: Record<string, string>;
    method?: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD' | 'OPTIONS' | 'TRACE' | 'CONNECT';
    dataType?: string;
    responseType?: 'text' | 'arraybuffer';
    timeout?: number;
    [option: string]: unknown;
}

/** wx.uploadFile's options; `data` of the result is the response text. */
export interface UploadFileOptions extends Callbacks<WxResponse<string>> {
    url: string;
    filePath: string;
    name: string;
    header?: Record<string, string>;
    formData?: Record<string, string>;
    timeout?: number;
    [option: string]: unknown;
}

/** The subset of wx that the client uses. */
export interface WxLike {
    login(params: { success?: (r: { code: string }) => void; fail?: (e: any) => void }): void;
    getUserInfo(params: {
        withCredentials?: boolean;
        success?: (r: { rawData: string; signature: string; userInfo?: object }) => void;
        fail?: (e: any) => void;
    }): void;
    request(params: object): unknown;
    uploadFile?(params: object): unknown;
    getStorageSync?(key: string): any;
    setStorageSync?(key: string, value: any): void;
    removeStorageSync?(key: string): void;
}

export interface ClientConfig {
    /** The wx object; default: the global `wx`, looked up on each call. */
    wx?: WxLike;
    /** Logins and retries after ERR_SESSION_EXPIRED / ERR_SESSION_KEY_EXCHANGE_FAILED (2). */
    maxRetries?: number;
    /** wx storage key of the session code ('wxsession:code'). */
    storageKey?: string;
    /** Called with an exception thrown by a success/fail/complete callback (console.error). */
    onCallbackError?: (e: unknown) => void;
}

export interface Client {
    /**
     * wx.request through the session. The promise resolves to wx.request's success value
     * (any HTTP status) and rejects with a WxSessionError. When a callback is given, the
     * rejection is handled for you and goes to `fail`.
     */
    request<T = any>(options: RequestOptions): Promise<WxResponse<T>>;
    uploadFile(options: UploadFileOptions): Promise<WxResponse<string>>;
    /** Forget the session (memory and wx storage): the next request logs in anew. */
    clearSession(): void;
    /** True when a session the server has accepted is held. */
    hasSession(): boolean;
}

export function createClient(config?: ClientConfig): Client;
export const request: Client['request'];
export const uploadFile: Client['uploadFile'];
export const clearSession: Client['clearSession'];
export const hasSession: Client['hasSession'];
export const reasons: {
    readonly SESSION_EXPIRED: 'ERR_SESSION_EXPIRED';
    readonly SESSION_KEY_EXCHANGE_FAILED: 'ERR_SESSION_KEY_EXCHANGE_FAILED';
    readonly UNTRUSTED_RAW_DATA: 'ERR_UNTRUSTED_RAW_DATA';
};
export const codes: {
    readonly INVALID_OPTIONS: 'ERR_INVALID_OPTIONS';
    readonly WX_LOGIN_FAILED: 'ERR_WX_LOGIN_FAILED';
    readonly WX_GET_USER_INFO_FAILED: 'ERR_WX_GET_USER_INFO_FAILED';
    readonly REQUEST_FAILED: 'ERR_REQUEST_FAILED';
    readonly MALFORMED_RAW_DATA: 'ERR_MALFORMED_RAW_DATA';
};
export const MAGIC_KEY: 'F2C224D4-2BCE-4C64-AF9F-A6D872000D1A';
