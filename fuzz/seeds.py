#!/usr/bin/env python3
"""seeds.py: write the seed corpora of the fuzz drivers into fuzz/corpus/<driver>/.

The seeds are checked in; this script is how they were made (run it again after editing it:
files are named by the seed's name, so unchanged seeds keep their names). Each seed is the
bytes a driver receives, including the driver's leading mode byte where it has one (see the
comment at the top of each fuzz/driver_*.c)."""
import json
import os
import sys
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))

# WeChat's official example (DESIGN.md section 2) and what wx.getUserInfo returns since 2022
RAW_OFFICIAL = ('{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou",'
                '"province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/'
                'vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsr'
                'ztuuICqIM5ibXQ/0"}')
KEY_OFFICIAL = 'HyVFkGl5F5OQWJZZaNzBBg=='
SIG_OFFICIAL = '75e81ceda165f4ffa64f4068af58c64b8f54b88c'
RAW_ANON = ('{"nickName":"微信用户","gender":0,"language":"","city":"","province":"",'
            '"country":"","avatarUrl":"https://thirdwx.qlogo.cn/mmopen/vi_32/POgEwh4mIHO4nibH0'
            'KlMECNjjGxQUq24ZEaGT4poC6icRiccVGKSyXwibcPq4BWmiaIGuG1icwxaQX6grC9VemZoJ8rg/132"}')
OPENID = 'oGZUI0egBJY1zhBYw2KhdUfwVJJE'


def enc(s):
    """encodeURIComponent, as the mini program client sends X-WX-RawData."""
    return urllib.parse.quote(s, safe="-_.!~*'()")


def b(s):
    return s.encode('utf-8') if isinstance(s, str) else s


def with_host(text):
    """text with "Host: x" after every HTTP/1.1 request line whose header block has no Host."""
    out, pos = [], 0
    marker = ' HTTP/1.1\r\n'
    while True:
        i = text.find(marker, pos)
        if i < 0:
            out.append(text[pos:])
            return ''.join(out)
        end = i + len(marker)
        head_end = text.find('\r\n\r\n', i)
        block = text[end:head_end if head_end >= 0 else len(text)].lower()
        out.append(text[pos:end])
        if not block.startswith('host:') and '\r\nhost:' not in block:
            out.append('Host: x\r\n')
        pos = end


def http_seeds():
    crlf = '\r\n'
    login = ('GET /applet/session HTTP/1.1\r\nHost: 127.0.0.1:5757\r\n'
             'X-WX-Code: 033aB2000Nb8SR1YuT000xyz\r\n'
             f'X-WX-RawData: {enc(RAW_OFFICIAL)}\r\nX-WX-Signature: {SIG_OFFICIAL}\r\n\r\n')
    save_json = json.dumps({'id': 'first', 'actions': '[{"t":"m","x":10,"y":10}]'},
                           separators=(',', ':'))
    save_form = 'id=second&actions=' + enc('[{"t":"l","x":90,"y":40}]')
    req = {
        'get': 'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
        'login': login,
        'code_only': 'GET /applet/session HTTP/1.1\r\nHost: x\r\nX-WX-Code: abc\r\n\r\n',
        'anon_utf8': ('GET /applet/session HTTP/1.1\r\nX-WX-Code: c\r\n'
                      f'X-WX-RawData: {enc(RAW_ANON)}\r\nX-WX-Signature: 0000\r\n\r\n'),
        'save_json': ('POST /applet/session/paints/save HTTP/1.1\r\nHost: x\r\nX-WX-Code: c\r\n'
                      'Content-Type: application/json\r\n'
                      f'Content-Length: {len(save_json)}\r\n\r\n{save_json}'),
        'save_form': ('POST /applet/session/paints/save HTTP/1.1\r\nHost: x\r\n'
                      'Content-Type: application/x-www-form-urlencoded\r\n'
                      f'Content-Length: {len(save_form)}\r\n\r\n{save_form}'),
        'list': ('GET /applet/session/paints/list?limit=10&cursor=1700000000000.first '
                 'HTTP/1.1\r\n\r\n'),
        'pipelined': ('GET /a HTTP/1.1\r\n\r\nHEAD /b HTTP/1.1\r\n\r\n'
                      'POST /c HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc'
                      'GET /s204 HTTP/1.1\r\n\r\nGET /s500 HTTP/1.1\r\n\r\n'
                      'GET /d HTTP/1.1\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\n\r\n'),
        'chunked': ('POST /applet/session/paints/save HTTP/1.1\r\nTransfer-Encoding: chunked\r\n'
                    'Content-Type: application/json\r\n\r\n'
                    f'{len(save_json):x}\r\n{save_json}\r\n0\r\n\r\n'
                    'GET /after HTTP/1.1\r\n\r\n'),
        'chunked_ext_trailer': ('POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n'
                                '3;name=value\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n'),
        'chunked_pieces': ('POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n'
                           + ''.join('1\r\n%c\r\n' % c for c in 'abcdefgh') + '0\r\n\r\n'),
        'smuggle_cl_te': ('POST / HTTP/1.1\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n'
                          '\r\n0\r\n\r\nG'),
        'smuggle_te_cl': ('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n'
                          '\r\n1\r\nA\r\n0\r\n\r\n'),
        'smuggle_dup_cl': 'POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
        'smuggle_te_list': ('POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n'
                            '0\r\n\r\n'),
        'smuggle_te_obs_fold': ('POST / HTTP/1.1\r\nTransfer-Encoding:\r\n chunked\r\n\r\n'
                                '0\r\n\r\n'),
        'smuggle_space_colon': 'POST / HTTP/1.1\r\nContent-Length : 4\r\n\r\nabcd',
        'smuggle_cl_plus': 'POST / HTTP/1.1\r\nContent-Length: +4\r\n\r\nabcd',
        'smuggle_cl_hex': 'POST / HTTP/1.1\r\nContent-Length: 0x4\r\n\r\nabcd',
        'smuggle_bare_lf': 'GET /a HTTP/1.1\nHost: x\n\nGET /b HTTP/1.1\n\n',
        'smuggle_chunk_size_overflow': ('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n'
                                        'ffffffffffffffffff\r\nabc\r\n0\r\n\r\n'),
        'expect_continue': ('POST /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n'
                            '\r\nbody'),
        'http10_keepalive': ('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'
                             'GET /two HTTP/1.0\r\n\r\n'),
        'http2_version': 'GET / HTTP/2.0\r\n\r\n',
        'http09': 'GET /\r\n\r\n',
        'absolute_form': 'GET http://evil.example/ HTTP/1.1\r\n\r\n',
        'asterisk': 'OPTIONS * HTTP/1.1\r\n\r\n',
        'connect': 'CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n',
        'upgrade': ('GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'
                    '\x81\x05hello'),
        'query_fragment': 'GET /s404?a=1&b=%zz#frag HTTP/1.1\r\n\r\n',
        'header_ws_name': 'GET / HTTP/1.1\r\nX Bad: 1\r\n\r\n',
        'header_trim': 'GET / HTTP/1.1\r\nX-WX-RawData: \t %7B%7D \t\r\n\r\n',
        'many_headers': 'GET / HTTP/1.1\r\n' + ''.join(f'H{i}: v\r\n' for i in range(101)) + crlf,
        'big_header': 'GET / HTTP/1.1\r\nX-Big: ' + 'a' * 300 + '\r\n\r\n',
        'big_body': 'POST / HTTP/1.1\r\nContent-Length: 600\r\n\r\n' + 'b' * 600,
        'big_chunked': ('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n'
                        '200\r\n' + 'c' * 512 + '\r\n10\r\n' + 'd' * 16 + '\r\n0\r\n\r\n'),
        'status_codes': ''.join(f'GET /s{s} HTTP/1.1\r\n\r\n' for s in
                                ('200', '204', '404', '503', '099', '999', '600')),
        'head_then_get': 'HEAD / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n',
        'garbage': '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03',
        'nul_in_path': 'GET /a\x00b HTTP/1.1\r\n\r\n',
    }
    modes = {'sync': 0x00, 'async': 0x01, 'small': 0x04, 'early': 0x02, 'async_abort': 0x0b,
             'bytewise': 0x10, 'chunk16': 0x31, 'close': 0x80}
    # HTTP/1.1 requires Host (a request without one is refused at once): every HTTP/1.1 request
    # line that lacks one gets it, so each seed reaches the parts it was written for
    req = {name: with_host(text) for name, text in req.items()}
    out = {}
    # requests as bytes: latin-1 keeps the deliberate non-ASCII bytes (garbage, upgrade) single
    for name, text in req.items():
        out[f'{name}-sync'] = bytes([modes['sync']]) + text.encode('latin-1')
    # a few requests under every mode
    for name in ('pipelined', 'chunked', 'login', 'expect_continue', 'big_body', 'big_header',
                 'save_form', 'smuggle_cl_te'):
        for mname, m in modes.items():
            out[f'{name}-{mname}'] = bytes([m]) + req[name].encode('latin-1')
    return out


def percent_seeds():
    return {
        'official': enc(RAW_OFFICIAL),
        'anonymous': enc(RAW_ANON),
        'emoji': enc('{"nickName":"😀 Émile"}'),
        'plus_stays': '%7B%22a%22%3A%22b+c%22%7D',
        'lowercase_hex': '%7b%22a%22%3a1%7d',
        'bad_escape': '%7B%zz',
        'short_escape': 'abc%4',
        'lone_percent': '%',
        'overlong': '%C0%AF',
        'surrogate': '%ED%A0%80',
        'max_codepoint': '%F4%8F%BF%BF',
        'over_max': '%F4%90%80%80',
        'nul': 'a%00b',
        'raw_utf8': '微信用户',
        'triple_official': f'{KEY_OFFICIAL}\n{enc(RAW_OFFICIAL)}\n{SIG_OFFICIAL}',
        'triple_uppercase_sig': f'{KEY_OFFICIAL}\n{enc(RAW_OFFICIAL)}\n{SIG_OFFICIAL.upper()}',
        'triple_short_sig': f'{KEY_OFFICIAL}\n{enc(RAW_OFFICIAL)}\n{SIG_OFFICIAL[:39]}',
        'triple_anon': f'033aB2000Nb8SR1YuT000xyz\n{enc(RAW_ANON)}\n{"0" * 40}',
        'triple_empty': '\n\n',
    }


def rawdata_seeds():
    objs = {
        'official': RAW_OFFICIAL,
        'anonymous': RAW_ANON,
        'with_openid': '{"nickName":"a","openId":"someone-else","gender":1}',
        'openid_first': '{"openId":"x"}',
        'nested': '{"a":{"b":[1,2,{"c":null}]},"d":[true,false]}',
        'deep': '{"a":' * 10 + '1' + '}' * 10,
        'too_deep': '[' * 70 + ']' * 70,
        'unbalanced': ']]]]{"a":{"b":{}}}',
        'escapes': '{"s":"\\u00e9\\ud83d\\ude00\\n\\"\\\\/","t":"\\u2028"}',
        'numbers': '{"i":-9223372036854775808,"r":1.5e300,"z":-0.0,"e":1E-7}',
        'big_int': '{"i":99999999999999999999}',
        'duplicates': '{"a":1,"a":2,"openId":"o","openId":"p"}',
        'empty': '{}',
        'array': '[1,2,3]',
        'string': '"str"',
        'trailing': '{"a":1} x',
        'nul_escape': '{"a":"\\u0000"}',
        'bad_utf8': b'{"a":"\xff"}',
    }
    out = {}
    for name, text in objs.items():
        out[name] = b'\x00' + b(text)
        out[name + '-idbytes'] = b'\x01' + b(text)
        out[name + '-depth2'] = b'\x08' + b(text)
    return out


def wechat_seeds():
    ok = {'openid': OPENID, 'session_key': 'tiihtNczf5v6AKRyjwEUhQ=='}
    bodies = {
        'success': ok,
        'success_unionid': dict(ok, unionid='o6_bmasdasdsad6_2sgVt7hMZOPfL'),
        'success_errcode0': dict(ok, errcode=0, errmsg='ok'),
        'invalid_code': {'errcode': 40029,
                         'errmsg': 'invalid code, rid: 6593a1b2-1b2c3d4e-5f6a7b8c'},
        'code_used': {'errcode': 40163, 'errmsg': 'code been used, rid: 6593a1b2-0000'},
        'invalid_appid': {'errcode': 40013, 'errmsg': 'invalid appid'},
        'invalid_secret': {'errcode': 40125, 'errmsg': 'invalid appsecret'},
        'quota': {'errcode': 45011, 'errmsg': 'api minute-quota reach limit'},
        'busy': {'errcode': -1, 'errmsg': 'system error'},
        'errcode_no_msg': {'errcode': 40029},
        'errcode_string': {'errcode': '40029', 'errmsg': 'x'},
        'errcode_real': {'errcode': 40029.0, 'errmsg': 'x'},
        'errcode_half': dict(ok, errcode=0.5),
        'errcode_null': dict(ok, errcode=None),
        'errmsg_number': {'errcode': 1, 'errmsg': 5},
        'openid_empty': {'openid': '', 'session_key': 'k'},
        'openid_number': {'openid': 1, 'session_key': 'k'},
        'key_missing': {'openid': OPENID},
    }
    out = {}
    for name, obj in bodies.items():
        out[name] = b'\x00' + json.dumps(obj, separators=(',', ':')).encode()
    raw = {
        'openid_nul': '{"openid":"o\\u0000x","session_key":"k"}',
        'duplicate': '{"openid":"a","openid":"b","session_key":"k"}',
        'html': '<html><body>502 Bad Gateway</body></html>',
        'empty': '',
        'array': '[{"openid":"o","session_key":"k"}]',
        'deep': '{"x":' + '[' * 70 + ']' * 70 + ',"openid":"o","session_key":"k"}',
        'pretty': '{\n  "session_key": "k==",\n  "openid": "o"\n}\n',
    }
    for name, text in raw.items():
        out[name] = b'\x00' + text.encode()
    out['http500'] = b'\x06' + b'{"errcode":-1}'
    out['http404'] = b'\x07'
    out['depth1'] = b'\x81' + json.dumps(ok).encode()  # depth 1 (bits 5-7 = 4)
    return out


def paint_seeds():
    actions = '[{"t":"m","x":10,"y":10},{"t":"l","x":90,"y":40}]'
    json_bodies = {
        'json_string_actions': {'id': 'first', 'actions': actions},
        'json_array_actions': {'id': 'first', 'actions': [{'t': 'm', 'x': 1}]},
        'json_object_actions': {'id': 'x', 'actions': {'k': [1, 2]}},
        'json_numeric_id': {'id': 1700000000000, 'actions': '[]'},
        'json_null_id': {'id': None},
        'json_delete': {'id': 'first'},
        'json_bad_id_type': {'id': [1], 'actions': '[]'},
        'json_bad_actions': {'id': 'a', 'actions': 5},
        'json_unicode': {'id': 'a', 'actions': '["一笔到底", "😀"]'},
    }
    out = {}
    for name, obj in json_bodies.items():
        text = json.dumps(obj, separators=(',', ':'), ensure_ascii=False).encode()
        out[name] = b'\x01' + text           # application/json
        out[name + '-sniffed'] = b'\x00' + text  # no type: starts with '{'
    forms = {
        'form': 'id=second&actions=' + enc(actions),
        'form_plus': 'id=a+b&actions=%5B%22x+y%22%5D',
        'form_repeated': 'id=one&id=two&actions=1&actions=2',
        'form_empty_values': 'id=&actions=&other',
        'form_no_eq': 'id&actions',
        'form_bad_escape': 'id=a%zz',
        'form_bad_utf8': 'id=%C0%AF',
        'form_nul': 'id=abc%00def',
        'form_amp_only': '&&&',
    }
    for name, text in forms.items():
        out[name] = b'\x02' + text.encode()
    out['deep_json'] = b'\x05' + b'{"id":"a","actions":[[[[1]]]]}'  # depth 1
    cursors = {
        'cursor': '1700000000000.first',
        'cursor_zero': '0.a',
        'cursor_max_id': '1.' + 'z' * 64,
        'cursor_long_id': '1.' + 'z' * 65,
        'cursor_19_digits': '9223372036854775807.id',
        'cursor_no_dot': '1700000000000',
        'cursor_no_time': '.first',
        'cursor_bad_id': '17.a/b',
        'cursor_two_dots': '1.2.3',
        'cursor_sign': '-1.a',
    }
    for name, text in cursors.items():
        out[name] = b'\x80' + text.encode()
    return out


def config_seeds():
    full = {
        'port': 5757, 'listen': '127.0.0.1', 'routeBasePath': '/applet',
        'appId': 'wx4f4bc4dec97d474b', 'appSecret': 'SEKRET-app-0123456789abcdef',
        'workers': 2, 'store': 'redis',
        'sqlite': {'path': 'wxsession.db'},
        'redis': {'host': '127.0.0.1', 'port': 6379, 'password': 'SEKRET-redis', 'db': 0,
                  'timeoutMs': 1000, 'prefix': 'weapp-session:', 'ttl': 7200},
        'paints': {'store': 'mongodb', 'maxActionsBytes': 524288, 'maxPerUser': 10000,
                   'pageSize': 20, 'maxPageSize': 100},
        'mongo': {'uri': 'mongodb://u:SEKRET-mongo-uri@h/db', 'username': 'u',
                  'password': 'SEKRET-mongo', 'host': '127.0.0.1', 'port': 27017,
                  'query': 'authSource=admin', 'database': 'weapp'},
        'wechat': {'apiBase': 'https://api.weixin.qq.com', 'timeoutMs': 3000,
                   'connectTimeoutMs': 3000, 'maxReplyBytes': 65536},
        'limits': {'headerBytes': 16384, 'rawDataBytes': 8192, 'bodyBytes': 1048576,
                   'jsonDepth': 64, 'connections': 10000, 'codeBytes': 256},
        'timeouts': {'headerMs': 10000, 'idleMs': 60000, 'shutdownMs': 10000},
        'simulator': {'enabled': True, 'latencyMs': 0, 'quotaPerMinute': 100},
        'log': {'level': 'info', 'format': 'json'},
    }
    files = {
        'full': json.dumps(full, indent=2, ensure_ascii=False),
        'readme': json.dumps({'port': 5757, 'routeBasePath': '/applet', 'appId': 'wx...',
                              'appSecret': 'SEKRET-readme', 'store': 'redis',
                              'redis': {'host': '127.0.0.1', 'port': 6379, 'password': '',
                                        'db': 0, 'prefix': 'weapp-session:', 'ttl': 7200},
                              'wechat': {'timeoutMs': 3000}}, indent=2),
        'empty_object': '{}',
        'secret_wrong_type': '{"appSecret": 12345}',
        'secret_nul': '{"appSecret": "SEKRET\\u0000x"}',
        'secret_then_bad': '{"appSecret": "SEKRET-x", "port": 99999}',
        'secret_invalid_json': '{"appSecret": "SEKRET-x\x01"}',
        'secret_bad_escape': '{"redis": {"password": "SEKRET\\q"}}',
        'secret_bad_unicode': '{"mongo": {"password": "SEKRET\\uD800\\u0041"}}',
        'secret_duplicate': '{"appSecret": "SEKRET-1", "appSecret": "SEKRET-2"}',
        'secret_long': '{"appSecret": "SEKRET' + 'x' * 5000 + '"}',
        'secret_truncated': '{"appSecret": "SEKRET-cut',
        'unknown_key': '{"nope": 1}',
        'unknown_nested': '{"redis": {"nope": 1}}',
        'group_not_object': '{"redis": 5}',
        'flag_as_key': '{"app-secret": "x"}',
        'bad_enum': '{"store": "postgres"}',
        'bad_route': '{"routeBasePath": "/a/../b"}',
        'bad_listen': '{"listen": "localhost"}',
        'bad_api_base': '{"wechat": {"apiBase": "ftp://x/"}}',
        'bad_prefix': '{"redis": {"prefix": "has space"}}',
        'out_of_range': '{"port": -1, "workers": 65}',
        'real_for_int': '{"port": 5757.0}',
        'bool_for_int': '{"simulator": {"enabled": 1}}',
        'top_array': '[1, 2]',
        'long_key': '{"' + 'k' * 80 + '": 1}',
        'nested_too_deep': '{"redis": {"port": {"x": 1}}}',
        'bom': '\ufeff{}',
        'utf8_key': '{"端口": 5757}',
    }
    out = {name: b(text) for name, text in files.items()}
    sets = ['port=5757', 'port=99999', 'port=12x', 'port=-0', 'port=99999999999999999999',
            'appSecret=SEKRET-set', 'app-secret=SEKRET-flag', 'redis.password=SEKRET-pw',
            'mongo-uri=SEKRET-uri', 'simulator-enabled=yes', 'simulator.enabled=maybe',
            'log.level=trace', 'routeBasePath=/x/y', 'nope=1', 'listen=::1', 'store=redis']
    for i, text in enumerate(sets):
        out[f'set{i:02d}'] = b's' + text.encode()
    return out


def main():
    corpora = {
        'driver_http': http_seeds(),
        'driver_percent': {k: b(v) for k, v in percent_seeds().items()},
        'driver_rawdata': rawdata_seeds(),
        'driver_wechat_reply': wechat_seeds(),
        'driver_paint_body': paint_seeds(),
        'driver_config': config_seeds(),
    }
    only = sys.argv[1:]
    for driver, seeds in corpora.items():
        if only and driver not in only:
            continue
        d = os.path.join(HERE, 'corpus', driver)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(d, 'seed-' + name), 'wb') as f:
                f.write(data)
        print(f'{driver}: {len(seeds)} seeds')


if __name__ == '__main__':
    main()
