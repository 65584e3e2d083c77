/* index.js: the entry WeChat devtools resolves require('wxsession-client') to after
 * "build npm" (a package name alone means its index.js there). */
if (typeof module === 'object' && module.exports)
    module.exports = require('./wxsession.js');
