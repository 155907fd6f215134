// esl_client.js — drives the unmodified npm `modesl` client against a running aorta.
//   node esl_client.js <scenario> <port> <password>
// Prints one JSON object per line ({"step": ..., ...}) and finally {"step": "done"};
// exits non-zero on a timeout or an unexpected error. test_modesl.py runs and checks it.
'use strict';
const esl = require('modesl');

const [scenario, port, password] = process.argv.slice(2);
const out = (step, data) => console.log(JSON.stringify(Object.assign({step}, data || {})));
const finish = (conn) => { out('done'); if (conn) conn.disconnect(); setImmediate(() => process.exit(0)); };
setTimeout(() => { out('timeout'); process.exit(3); }, 20000).unref();
process.on('uncaughtException', (e) => { out('exception', {message: String(e && e.stack || e)}); process.exit(4); });

const headersOf = (evt) => {
    const h = {};
    for (const x of evt.headers) h[x.name] = x.value;
    return h;
};

function connect(pw, onReady) {
    const conn = new esl.Connection('127.0.0.1', Number(port), pw, () => onReady(conn));
    conn.on('error', (e) => out('error', {message: String(e)}));
    conn.on('esl::event::disconnect::notice', (evt) => out('disconnect_notice', {body: evt.getBody()}));
    return conn;
}

const scenarios = {
    // api, an unknown api, bgapi with its BACKGROUND_JOB, CUSTOM events in json
    basic() {
        connect(password, (conn) => {
            out('ready');
            conn.api('status', (r) => {
                out('api_status', {body: r.getBody()});
                conn.api('nonsense_command', 'x', (r2) => {
                    out('api_unknown', {body: r2.getBody()});
                    conn.bgapi('echo', ['bg-hello'], (evt) => {
                        out('bgapi', {name: evt.getHeader('Event-Name'), job: evt.getHeader('Job-UUID'),
                                      command: evt.getHeader('Job-Command'), body: evt.getBody()});
                        customs(conn);
                    });
                });
            });
        });
        function customs(conn) {
            conn.on('esl::event::CUSTOM::**', (evt) => {
                const h = headersOf(evt);
                out('custom', {subclass: h['Event-Subclass'], foo: h['foo'], marker: h['marker'] || null,
                               body: evt.getBody(), core: h['Core-UUID'], seq: h['Event-Sequence']});
                if (h['marker'] === 'last') finish(conn);
            });
            conn.subscribe(['CUSTOM', 'x::y'], () => {
                conn.api('test_fire x::y foo=bar%20baz body=hi%21', () => {
                    conn.api('test_fire x::z foo=not-subscribed', () => {
                        conn.api('test_fire x::y marker=last', () => {});
                    });
                });
            });
        }
    },

    // plain events: URL-encoded values decoded by modesl, body sliced by bytes
    plain() {
        connect(password, (conn) => {
            conn.on('esl::event::CUSTOM::**', (evt) => {
                const h = headersOf(evt);
                out('custom', {subclass: h['Event-Subclass'], odd: h['odd'], utf8: h['utf8'], body: evt.getBody()});
                finish(conn);
            });
            conn.events('plain', ['CUSTOM', 'p::q'], (reply) => {
                out('events_reply', {text: reply.getHeader('Reply-Text')});
                conn.api('test_fire p::q odd=a%20b%25c%3Ad%26e%2Bf%0Ag utf8=%C3%A9t%C3%A9 body=l%C3%AEne1%0Aline2', () => {});
            });
        });
    },

    // filters, including modesl's own Job-UUID filter around bgapi
    filters() {
        connect(password, (conn) => {
            const seen = [];
            conn.on('esl::event::CUSTOM::**', (evt) => {
                const tag = evt.getHeader('tag');
                seen.push(tag);
                if (tag === 'red') {
                    out('filtered', {seen});
                    conn.bgapi('echo', ['with-filters'], (job) => {
                        out('bgapi', {body: job.getBody(), job: job.getHeader('Job-UUID')});
                        finish(conn);
                    });
                }
            });
            conn.subscribe(['CUSTOM', 'f::a'], () => {
                conn.filter('tag', 'keep', (r) => {
                    out('filter_reply', {text: r.getHeader('Reply-Text')});
                    conn.api('test_fire f::a tag=drop', () => conn.api('test_fire f::a tag=keep', () =>
                        conn.api('test_fire f::a tag=KEEP', () => conn.filterDelete('tag', 'keep', (r2) => {
                            out('filter_delete_reply', {text: r2.getHeader('Reply-Text')});
                            conn.filter('tag', '/^re/', () => conn.api('test_fire f::a tag=blue', () =>
                                conn.api('test_fire f::a tag=red', () => {})));
                        }))));
                });
            });
        });
    },

    // a wrong password is refused
    wrongpw() {
        const conn = connect(password + 'x', () => out('ready'));
        conn.on('esl::event::auth::fail', () => out('auth_fail'));
        conn.on('esl::end', () => { out('end'); out('done'); process.exit(0); });
    },
};

if (!scenarios[scenario]) {
    out('error', {message: 'unknown scenario ' + scenario});
    process.exit(2);
}
scenarios[scenario]();
