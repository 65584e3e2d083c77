// wxsession.d.ts: types of the wxsession client (wxsession.js), token and legacy modes.

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
     * Legacy mode: a server reason (ERR_SESSION_EXPIRED, ERR_SESSION_KEY_EXCHANGE_FAILED,
     * ERR_UNTRUSTED_RAW_DATA) after the retries. Token mode: the server's code
     * (ERR_TOKEN_INVALID, ERR_TOKEN_EXPIRED, ERR_SESSION_KEY_STALE after the one retry;
     * from /login: ERR_WECHAT, ERR_TOO_MANY_LOGINS, ERR_UNTRUSTED_RAW_DATA, ERR_WATERMARK,
     * ERR_BAD_REQUEST, ERR_STORE_UNAVAILABLE; from getPhoneNumber: ERR_PHONE_CODE_INVALID,
     * ERR_WECHAT_QUOTA, ERR_WECHAT, ERR_BAD_REQUEST, ERR_STORE_UNAVAILABLE). Or a client code:
     * ERR_MALFORMED_RAW_DATA, ERR_WX_LOGIN_FAILED, ERR_WX_GET_USER_INFO_FAILED,
     * ERR_LOGIN_FAILED, ERR_REQUEST_FAILED, ERR_INVALID_OPTIONS, ERR_UNEXPECTED_RESPONSE.
     */
    code: string;
    /** wx's failure text, e.g. "request:fail timeout". */
    errMsg: string;
    /** The server's reason or code when the server refused the session. */
    reason?: string;
    /**
     * Legacy mode: the server's `error` object ({name, message, detail?}). Token mode: the
     * server's error as read ({status, code, message, errcode?, errmsg?, relogin,
     * retryAfter?}).
     */
    detail?: { name?: string; message?: string; detail?: unknown } | TokenApiError;
    /** The server's answer when it refused the session. */
    response?: WxResponse;
    /** Token mode, ERR_WECHAT: WeChat wants a new code (the client already tried one). */
    relogin?: boolean;
    /**
     * Token mode, ERR_TOO_MANY_LOGINS (and ERR_WECHAT_QUOTA when the server sent it): seconds
     * to wait (the Retry-After header).
     */
    retryAfter?: number;
    cause?: unknown;
}

/** A token-mode error answer: HTTP status + {"error":{"code","message",...}}. */
export interface TokenApiError {
    status: number;
    code: string;
    message: string;
    /** ERR_WECHAT: WeChat's errcode and errmsg. */
    errcode?: number;
    errmsg?: string;
    /** ERR_WECHAT: true for 40029 / 40163 (call wx.login again). */
    relogin: boolean;
    /** ERR_TOO_MANY_LOGINS: the Retry-After header, in seconds. */
    retryAfter?: number;
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
    /**
     * Your headers; kept, with Authorization (token mode) or X-WX-Code (and on login
     * X-WX-RawData, X-WX-Signature) (legacy mode) added in place of any of yours so named.
     */
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

/** wx.getUserProfile's (or wx.getUserInfo's) answer, as /login takes it. */
export interface UserProfile {
    rawData?: string;
    signature?: string;
    encryptedData?: string;
    iv?: string;
    userInfo?: object;
}

/** The subset of wx that the client uses (getUserInfo: legacy mode only). */
export interface WxLike {
    login(params: { success?: (r: { code: string }) => void; fail?: (e: any) => void }): void;
    getUserInfo?(params: {
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
    /**
     * 'token' (POST {baseUrl}/login, then Authorization: Bearer) or 'legacy' (the
     * weapp-session protocol). Default: 'token' when baseUrl is given, else 'legacy', so
     * configs written before token mode keep their protocol.
     */
    mode?: 'token' | 'legacy';
    /** Token mode (required): the server's {routeBasePath}, e.g. 'https://x.com/applet'. */
    baseUrl?: string;
    /**
     * Token mode: called after each wx.login; its answer (e.g. what wx.getUserProfile gave)
     * goes to /login beside the code. null or undefined: the code alone.
     */
    profile?: (wx: WxLike) => UserProfile | null | undefined |
        Promise<UserProfile | null | undefined>;
    /** The wx object; default: the global `wx`, looked up on each call. */
    wx?: WxLike;
    /**
     * Legacy mode: logins and retries after ERR_SESSION_EXPIRED /
     * ERR_SESSION_KEY_EXCHANGE_FAILED (2). Token mode always retries once.
     */
    maxRetries?: number;
    /** wx storage key of the token ('wxsession:token'), legacy: of the code ('wxsession:code'). */
    storageKey?: string;
    /** Called with an exception thrown by a success/fail/complete callback (console.error). */
    onCallbackError?: (e: unknown) => void;
}

/** The user's phone number, as WeChat's getuserphonenumber gave it (phone_info). */
export interface PhoneInfo {
    /** The number as WeChat gives it, which may carry the country code ("+8613800138000"). */
    phoneNumber: string;
    /** Without the country code, e.g. "13800138000". */
    purePhoneNumber: string;
    /** e.g. "86". */
    countryCode: string;
    watermark: { timestamp: number; appid: string };
}

/** What a token-mode login answered (the token itself stays inside the client). */
export interface TokenSession {
    openId: string;
    unionId: string | null;
    /** The decrypted encryptedData, else the checked rawData, else null. */
    userInfo: object | null;
    /** Seconds until the token ends if unused. */
    expiresIn: number;
}

export interface Client {
    readonly mode: 'token' | 'legacy';
    /**
     * wx.request through the session. The promise resolves to wx.request's success value
     * (any HTTP status) and rejects with a WxSessionError. When a callback is given, the
     * rejection is handled for you and goes to `fail`.
     */
    request<T = any>(options: RequestOptions): Promise<WxResponse<T>>;
    uploadFile(options: UploadFileOptions): Promise<WxResponse<string>>;
    /** Forget the session (memory and wx storage) without telling the server. */
    clearSession(): void;
    /** True when a session the server has accepted is held (token mode: a token is held). */
    hasSession(): boolean;
}

export interface TokenClient extends Client {
    readonly mode: 'token';
    /**
     * Log in now: wx.login, POST {baseUrl}/login with the code and `profile` (default: the
     * config's profile hook); the new token replaces the one held.
     */
    login(options?: Callbacks<TokenSession> & { profile?: UserProfile | null }):
        Promise<TokenSession>;
    /**
     * POST {baseUrl}/logout ({"all": true}: every session of the user), the token forgotten
     * first whatever the answer. Resolves to the answer (2xx, or 401 for a token already
     * ended), or null when no token was held; rejects on a transport failure or another error.
     */
    logout(options?: Callbacks<WxResponse | null> & { all?: boolean }):
        Promise<WxResponse | null>;
    /**
     * POST {baseUrl}/phone {"code"}, code being e.detail.code of a
     * `<button open-type="getPhoneNumber">`; resolves to the phone_info. A 401 that ends the
     * token: one re-login and one retry with the same code (safe: the server checks the token
     * before calling WeChat, so a refused token never spends the single-use code). Rejects,
     * never retried: ERR_PHONE_CODE_INVALID (ask the user to tap again), ERR_WECHAT_QUOTA
     * (WeChat's frequency limit or billed quota), ERR_WECHAT, ERR_BAD_REQUEST,
     * ERR_STORE_UNAVAILABLE, ERR_UNEXPECTED_RESPONSE (a 2xx without a phone number);
     * ERR_INVALID_OPTIONS for a code that is not a non-empty string (nothing sent).
     */
    getPhoneNumber(code: string, options?: Callbacks<PhoneInfo>): Promise<PhoneInfo>;
}

export interface LegacyClient extends Client {
    readonly mode: 'legacy';
}

/** Throws ERR_INVALID_OPTIONS for an unknown mode, or token mode without baseUrl. */
export function createClient(config: ClientConfig & { mode: 'token' }): TokenClient;
export function createClient(config: ClientConfig & { baseUrl: string; mode?: undefined }):
    TokenClient;
export function createClient(config?: ClientConfig): LegacyClient | TokenClient;
export const request: Client['request'];
export const uploadFile: Client['uploadFile'];
export const clearSession: Client['clearSession'];
export const hasSession: Client['hasSession'];
export const reasons: {
    readonly SESSION_EXPIRED: 'ERR_SESSION_EXPIRED';
    readonly SESSION_KEY_EXCHANGE_FAILED: 'ERR_SESSION_KEY_EXCHANGE_FAILED';
    readonly UNTRUSTED_RAW_DATA: 'ERR_UNTRUSTED_RAW_DATA';
};
export const tokenCodes: {
    readonly TOKEN_INVALID: 'ERR_TOKEN_INVALID';
    readonly TOKEN_EXPIRED: 'ERR_TOKEN_EXPIRED';
    readonly SESSION_KEY_STALE: 'ERR_SESSION_KEY_STALE';
    readonly WECHAT: 'ERR_WECHAT';
    readonly TOO_MANY_LOGINS: 'ERR_TOO_MANY_LOGINS';
    readonly UNTRUSTED_RAW_DATA: 'ERR_UNTRUSTED_RAW_DATA';
    readonly WATERMARK: 'ERR_WATERMARK';
    readonly BAD_REQUEST: 'ERR_BAD_REQUEST';
    readonly STORE_UNAVAILABLE: 'ERR_STORE_UNAVAILABLE';
    readonly PHONE_CODE_INVALID: 'ERR_PHONE_CODE_INVALID';
    readonly WECHAT_QUOTA: 'ERR_WECHAT_QUOTA';
    readonly DECRYPT_FAILED: 'ERR_DECRYPT_FAILED';
};
export const codes: {
    readonly INVALID_OPTIONS: 'ERR_INVALID_OPTIONS';
    readonly WX_LOGIN_FAILED: 'ERR_WX_LOGIN_FAILED';
    readonly WX_GET_USER_INFO_FAILED: 'ERR_WX_GET_USER_INFO_FAILED';
    readonly REQUEST_FAILED: 'ERR_REQUEST_FAILED';
    readonly MALFORMED_RAW_DATA: 'ERR_MALFORMED_RAW_DATA';
    readonly LOGIN_FAILED: 'ERR_LOGIN_FAILED';
    readonly UNEXPECTED_RESPONSE: 'ERR_UNEXPECTED_RESPONSE';
};
export const MAGIC_KEY: 'F2C224D4-2BCE-4C64-AF9F-A6D872000D1A';
