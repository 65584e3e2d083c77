/* config.js: where the One Stroke backend (wxsessiond) is. In devtools, `./scripts/dev.sh`
 * serves http://127.0.0.1:5757 (tick "do not verify request domains"); a released mini
 * program needs an https host listed in the mini program's request domains. */
module.exports = {
    host: 'http://127.0.0.1:5757',
    basePath: '/applet',
    /* The draw page's "phone number" button (<button open-type="getPhoneNumber">, then
     * POST {basePath}/phone). Off by default: WeChat offers it to verified, non-personal mini
     * programs only and bills each number it gives. */
    showPhoneButton: false,
};
