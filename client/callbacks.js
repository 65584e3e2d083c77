/* callbacks.js: wx-style success/fail/complete on top of a promise, each called at most once
 * and complete exactly once. */
(function (root, factory) {
    'use strict';
    if (typeof module === 'object' && module.exports) {
        module.exports = factory();
    } else {
        const ns = (root.wxsession = root.wxsession || {});
        ns.callbacks = factory();
    }
})(typeof globalThis !== 'undefined' ? globalThis : this, function () {
    'use strict';

    /* Calls fn(value) if it is a function. A callback that throws must not turn a success into
     * a failure nor skip complete, so its exception is reported, not propagated. */
    function invoke(fn, value, report) {
        if (typeof fn !== 'function')
            return;
        try {
            fn(value);
        } catch (e) {
            report(e);
        }
    }

    function defaultReport(e) {
        if (typeof console !== 'undefined' && console.error)
            console.error('wxsession: a success/fail/complete callback threw:', e);
    }

    /* Returns promise. When options has success, fail or complete, they are called when it
     * settles (success or fail once, then complete once) and the rejection counts as handled,
     * so a caller that uses only callbacks never sees an unhandled rejection. A caller that
     * passes no callback must handle the promise itself, as with any promise. */
    function attach(options, promise, report) {
        const o = options || {};
        const reporter = report || defaultReport;
        const wanted = [o.success, o.fail, o.complete].some((f) => typeof f === 'function');
        if (!wanted)
            return promise;
        promise.then(
            (res) => {
                invoke(o.success, res, reporter);
                invoke(o.complete, res, reporter);
            },
            (err) => {
                invoke(o.fail, err, reporter);
                invoke(o.complete, err, reporter);
            }
        );
        return promise;
    }

    return { attach };
});
