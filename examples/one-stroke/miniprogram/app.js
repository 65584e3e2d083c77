/* app.js: the One Stroke (一笔到底) mini program. The session lives in the wxsession client,
 * which logs in on the first request; the app itself keeps nothing. */
const config = require('./config.js');

App({
    globalData: { config },
});
