/* wxml-check.js: a WXML well-formedness checker: balanced tags, quoted attributes without
 * duplicates, balanced {{ }} in text and attribute values, closed comments; <wxs> bodies are
 * skipped as script. Returns the errors (with line:column) and the elements it read. */
'use strict';

const NAME = /[A-Za-z_][\w.:-]*/y;
const ATTR_NAME = /[^\s=/>"'{}]+/y;

function lineCol(text, offset) {
    const before = text.slice(0, offset);
    const line = before.split('\n').length;
    return `${line}:${offset - before.lastIndexOf('\n')}`;
}

/* The end (index after "}}") of the mustache opening at i ("{{"), or -1. Braces and quoted
 * strings inside are followed, so {{ {a: 1} }} and {{ '}}' }} are read whole. */
function mustacheEnd(text, i, limit) {
    let depth = 0;
    let quote = null;
    for (let j = i; j < limit; j++) {
        const c = text[j];
        if (quote) {
            if (c === '\\')
                j++;
            else if (c === quote)
                quote = null;
        } else if (c === '"' || c === '\'') {
            quote = c;
        } else if (c === '{') {
            depth++;
        } else if (c === '}') {
            depth--;
            if (depth === 0)
                return text[j - 1] === '}' ? j + 1 : -1;
            if (depth < 0)
                return -1;
        }
    }
    return -1;
}

/* Checks the {{ }} of text[from, to); pushes errors. */
function checkMustaches(text, from, to, errors) {
    let i = from;
    while (i < to) {
        const open = text.indexOf('{{', i);
        const close = text.indexOf('}}', i);
        if (close !== -1 && close < to && (open === -1 || close < open)) {
            errors.push(`${lineCol(text, close)}: '}}' without '{{'`);
            return;
        }
        if (open === -1 || open >= to)
            return;
        const end = mustacheEnd(text, open, to);
        if (end === -1) {
            errors.push(`${lineCol(text, open)}: '{{' is not closed by '}}'`);
            return;
        }
        i = end;
    }
}

/* Reads the attributes of a start tag from i (after the name) to its '>' or '/>'. Returns
 * {end, selfClosing, attrs} or null after pushing an error. */
function readAttributes(text, i, errors) {
    const attrs = {};
    for (;;) {
        while (i < text.length && /\s/.test(text[i]))
            i++;
        if (i >= text.length) {
            errors.push(`${lineCol(text, i)}: unterminated start tag`);
            return null;
        }
        if (text[i] === '>')
            return { end: i + 1, selfClosing: false, attrs };
        if (text.startsWith('/>', i))
            return { end: i + 2, selfClosing: true, attrs };
        ATTR_NAME.lastIndex = i;
        const m = ATTR_NAME.exec(text);
        if (!m) {
            errors.push(`${lineCol(text, i)}: bad character '${text[i]}' in a tag`);
            return null;
        }
        const name = m[0];
        if (Object.prototype.hasOwnProperty.call(attrs, name))
            errors.push(`${lineCol(text, i)}: duplicate attribute '${name}'`);
        i += name.length;
        let j = i;
        while (j < text.length && /\s/.test(text[j]))
            j++;
        if (text[j] !== '=') {
            attrs[name] = true; /* a boolean attribute: wx:else, disabled */
            continue;
        }
        j++;
        while (j < text.length && /\s/.test(text[j]))
            j++;
        const q = text[j];
        if (q !== '"' && q !== '\'') {
            errors.push(`${lineCol(text, j)}: value of '${name}' is not quoted`);
            return null;
        }
        const close = text.indexOf(q, j + 1);
        if (close === -1) {
            errors.push(`${lineCol(text, j)}: value of '${name}' has no closing quote`);
            return null;
        }
        checkMustaches(text, j + 1, close, errors);
        attrs[name] = text.slice(j + 1, close);
        i = close + 1;
    }
}

/**
 * Checks WXML text. Returns {errors: ['line:col: message', ...], elements: [{tag, attrs,
 * parent}]}, parent being the index in elements of the enclosing element, or -1.
 */
function checkWxml(text) {
    const errors = [];
    const elements = [];
    const stack = [];
    let i = 0;
    let textStart = 0;
    const flushText = (to) => checkMustaches(text, textStart, to, errors);

    while (i < text.length && errors.length === 0) {
        const lt = text.indexOf('<', i);
        const mus = text.indexOf('{{', i);
        if (mus !== -1 && (lt === -1 || mus < lt)) {
            /* a mustache in text may hold '<' (a < b): skip it whole */
            const end = mustacheEnd(text, mus, text.length);
            if (end === -1) {
                errors.push(`${lineCol(text, mus)}: '{{' is not closed by '}}'`);
                break;
            }
            i = end;
            continue;
        }
        if (lt === -1)
            break;
        flushText(lt);
        if (text.startsWith('<!--', lt)) {
            const end = text.indexOf('-->', lt + 4);
            if (end === -1) {
                errors.push(`${lineCol(text, lt)}: comment is not closed`);
                break;
            }
            i = textStart = end + 3;
            continue;
        }
        if (text[lt + 1] === '/') {
            NAME.lastIndex = lt + 2;
            const m = NAME.exec(text);
            const gt = m ? text.indexOf('>', lt) : -1;
            if (!m || gt === -1 || text.slice(lt + 2 + m[0].length, gt).trim() !== '') {
                errors.push(`${lineCol(text, lt)}: malformed end tag`);
                break;
            }
            const open = stack.pop();
            if (!open) {
                errors.push(`${lineCol(text, lt)}: </${m[0]}> closes nothing`);
            } else if (open.tag !== m[0]) {
                errors.push(`${lineCol(text, lt)}: </${m[0]}> closes <${open.tag}> ` +
                    `opened at ${lineCol(text, open.at)}`);
            }
            i = textStart = gt + 1;
            continue;
        }
        NAME.lastIndex = lt + 1;
        const m = NAME.exec(text);
        if (!m) {
            errors.push(`${lineCol(text, lt)}: '<' that starts no tag (write &lt;)`);
            break;
        }
        const tag = m[0];
        const a = readAttributes(text, lt + 1 + tag.length, errors);
        if (!a)
            break;
        const parent = stack.length ? stack[stack.length - 1].index : -1;
        elements.push({ tag, attrs: a.attrs, parent });
        i = textStart = a.end;
        if (a.selfClosing)
            continue;
        if (tag === 'wxs') {
            const end = text.indexOf('</wxs>', i);
            if (end === -1) {
                errors.push(`${lineCol(text, lt)}: <wxs> is not closed`);
                break;
            }
            i = textStart = end + 6;
            continue;
        }
        stack.push({ tag, at: lt, index: elements.length - 1 });
    }
    if (errors.length === 0)
        flushText(text.length);
    if (errors.length === 0) {
        for (const open of stack)
            errors.push(`${lineCol(text, open.at)}: <${open.tag}> is not closed`);
    }
    return { errors, elements };
}

/* Event handler names a WXML file binds (bindtap="save", catch:touchstart="x"), without
 * those given as {{expressions}}. */
function eventHandlers(elements) {
    const names = new Set();
    for (const el of elements) {
        for (const [k, v] of Object.entries(el.attrs)) {
            if (/^(bind|catch|capture-bind|capture-catch|mut-bind)/.test(k) &&
                typeof v === 'string' && !v.includes('{{'))
                names.add(v);
        }
    }
    return [...names];
}

/* True when element i and every element around it would render with `data`: each wx:if of
 * the form "{{name}}" or "{{!name}}" (a dotted name) is read from data; any other wx:if
 * expression throws, so that a test never passes on a condition it could not read. */
function rendered(elements, i, data) {
    for (let k = i; k !== -1; k = elements[k].parent) {
        const cond = elements[k].attrs['wx:if'];
        if (cond === undefined)
            continue;
        const m = /^\{\{\s*(!?)\s*([A-Za-z_$][\w$.]*)\s*\}\}$/.exec(cond);
        if (!m)
            throw new Error(`rendered(): cannot read wx:if="${cond}"`);
        const value = m[2].split('.').reduce((v, key) => (v == null ? v : v[key]), data);
        if (Boolean(value) === (m[1] === '!'))
            return false;
    }
    return true;
}

module.exports = { checkWxml, eventHandlers, rendered };
