//! The API server's storage backend: one conformance suite, run unchanged against
//! (1) the embedded backend on an in-memory store, (2) the remote backend on kstore's gRPC
//! server (in process) and (3) the remote backend on a real etcd 3.4 (`/usr/bin/etcd`, on
//! loopback ports with a temporary data directory). Whatever passes against etcd and fails
//! against kstore is a kstore bug.

#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kstore::backend::*;
use kstore::client::{ClientError, Code};
use kstore::watch::{WatchMessage, WatchRequest};
use kstore::{KeyValue, MvccError, Store, StoreConfig, StoreError};
use tokio_util::sync::CancellationToken;

const ETCD: &str = "/usr/bin/etcd";
/// Longest wait for anything expected to happen (an event, etcd starting, a lease expiring).
const WAIT: Duration = Duration::from_secs(15);

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn kv(key: &str, value: &str, create_revision: i64, mod_revision: i64, version: i64) -> KeyValue {
    KeyValue { key: b(key), create_revision, mod_revision, version, value: b(value), lease: 0 }
}

/// What a watch reports for a deletion: the key and the deleting revision.
fn tombstone(key: &str, revision: i64) -> KeyValue {
    KeyValue { key: b(key), mod_revision: revision, ..KeyValue::default() }
}

fn added(kv: KeyValue, prev_kv: Option<KeyValue>) -> BackendEvent {
    BackendEvent::Added(Change { kv, prev_kv })
}

fn modified(kv: KeyValue, prev_kv: Option<KeyValue>) -> BackendEvent {
    BackendEvent::Modified(Change { kv, prev_kv })
}

fn deleted(kv: KeyValue, prev_kv: Option<KeyValue>) -> BackendEvent {
    BackendEvent::Deleted(Change { kv, prev_kv })
}

async fn next(watch: &mut BackendWatch) -> BackendEvent {
    match tokio::time::timeout(WAIT, watch.next()).await {
        Ok(Some(event)) => event,
        Ok(None) => panic!("the watch ended"),
        Err(_) => panic!("no watch event within {WAIT:?}"),
    }
}

/// Asks for progress and checks that it is the next thing the watch delivers: every
/// change up to `revision` was delivered, and nothing more.
async fn expect_progress(watch: &mut BackendWatch, revision: i64) {
    watch.request_progress();
    assert_eq!(next(watch).await, BackendEvent::Progress(revision));
}

/// The suite: every operation and its error cases. Sections use their own key prefixes;
/// compaction comes last since it discards history.
async fn conformance(backend: &dyn Backend) {
    let started = Instant::now();
    reads_and_writes(backend).await;
    lists(backend).await;
    watches(backend).await;
    leases(backend).await;
    compaction(backend).await;
    eprintln!("conformance suite passed in {:?}", started.elapsed());
}

async fn reads_and_writes(be: &dyn Backend) {
    let key = b("/rw/a");
    let start = be.current_revision().await.unwrap();
    assert_eq!(be.get(key.clone()).await.unwrap(), GetResponse { revision: start, kv: None });

    // create: one new revision, version 1.
    let r1 = be.create(key.clone(), b("v1"), None).await.unwrap();
    assert_eq!(r1, start + 1);
    let v1 = kv("/rw/a", "v1", r1, r1, 1);
    assert_eq!(be.get(key.clone()).await.unwrap(), GetResponse { revision: r1, kv: Some(v1.clone()) });
    assert_eq!(be.create(key.clone(), b("other"), None).await, Err(BackendError::AlreadyExists { key: key.clone() }));
    assert_eq!(be.current_revision().await.unwrap(), r1, "a failed create changes nothing");

    // update: compare-and-swap on the mod revision; a stale one returns the current value.
    let r2 = be.update(key.clone(), b("v2"), r1, None).await.unwrap();
    assert_eq!(r2, r1 + 1);
    let v2 = kv("/rw/a", "v2", r1, r2, 2);
    let stale = be.update(key.clone(), b("v3"), r1, None).await.unwrap_err();
    assert_eq!(stale, BackendError::Conflict { key: key.clone(), current: Some(Box::new(v2.clone())) });
    assert!(!stale.is_retryable());
    assert_eq!(be.current_revision().await.unwrap(), r2, "a failed update changes nothing");

    // delete with preconditions.
    assert_eq!(
        be.delete(key.clone(), Some(r1)).await,
        Err(BackendError::Conflict { key: key.clone(), current: Some(Box::new(v2.clone())) })
    );
    let del = be.delete(key.clone(), Some(r2)).await.unwrap();
    assert_eq!(del, DeleteResponse { revision: r2 + 1, prev_kv: v2.clone() });
    let r3 = del.revision;
    assert_eq!(be.get(key.clone()).await.unwrap(), GetResponse { revision: r3, kv: None });

    // A missing key: updates conflict with no current value, deletes find nothing.
    assert_eq!(
        be.update(key.clone(), b("v3"), r2, None).await,
        Err(BackendError::Conflict { key: key.clone(), current: None })
    );
    for expected in [Some(r2), Some(0), None] {
        assert_eq!(be.delete(key.clone(), expected).await, Err(BackendError::NotFound { key: key.clone() }));
    }
    assert_eq!(be.current_revision().await.unwrap(), r3, "failed writes change nothing");

    // Re-creation starts a new generation.
    let r4 = be.create(key.clone(), b("v4"), None).await.unwrap();
    assert_eq!(r4, r3 + 1);
    assert_eq!(be.get(key.clone()).await.unwrap().kv, Some(kv("/rw/a", "v4", r4, r4, 1)));

    // An update expecting revision 0 creates a missing key (GuaranteedUpdate of a new
    // object), and conflicts once it exists; an unconditional delete returns it.
    let other = b("/rw/b");
    let r5 = be.update(other.clone(), b("x"), 0, None).await.unwrap();
    let x = kv("/rw/b", "x", r5, r5, 1);
    assert_eq!(
        be.update(other.clone(), b("y"), 0, None).await,
        Err(BackendError::Conflict { key: other.clone(), current: Some(Box::new(x.clone())) })
    );
    assert_eq!(be.delete(other.clone(), None).await, Ok(DeleteResponse { revision: r5 + 1, prev_kv: x }));

    // Leases that do not exist: the compare is evaluated first.
    let r6 = be.current_revision().await.unwrap();
    let missing = 0x7ead_beef;
    assert_eq!(be.create(b("/rw/c"), b("v"), Some(missing)).await, Err(BackendError::LeaseNotFound { lease: missing }));
    assert_eq!(
        be.create(key.clone(), b("v"), Some(missing)).await,
        Err(BackendError::AlreadyExists { key: key.clone() })
    );
    assert_eq!(
        be.update(key.clone(), b("v"), r4, Some(missing)).await,
        Err(BackendError::LeaseNotFound { lease: missing })
    );
    assert_eq!(be.current_revision().await.unwrap(), r6);

    // Bad input is refused with a clear error.
    for result in [be.get(Bytes::new()).await.map(drop), be.create(Bytes::new(), b("v"), None).await.map(drop)] {
        assert!(matches!(result, Err(BackendError::InvalidArgument(_))), "{result:?}");
    }

    // Keys and values are bytes.
    let binary = Bytes::from_static(b"/rw/\xff\x00bin");
    let value = Bytes::from_static(b"\x00\x01\xfe\xff");
    let r7 = be.create(binary.clone(), value.clone(), None).await.unwrap();
    let got = be.get(binary.clone()).await.unwrap().kv.unwrap();
    assert_eq!((got.key, got.value, got.mod_revision), (binary, value, r7));
}

async fn lists(be: &dyn Backend) {
    let prefix = b("/list/");
    // Neighbours of the prefix that a list must not include.
    for key in ["/list", "/lisa", "/list0", "/list.", "/lisu"] {
        be.create(b(key), b("outside"), None).await.unwrap();
    }
    let mut revs = Vec::new();
    for i in 1..=5 {
        revs.push(be.create(b(&format!("/list/k{i}")), b(&format!("v{i}")), None).await.unwrap());
    }
    let item = |i: usize, value: &str| kv(&format!("/list/k{i}"), value, revs[i - 1], revs[i - 1], 1);
    let original: Vec<KeyValue> = (1..=5).map(|i| item(i, &format!("v{i}"))).collect();

    let all = be.list(prefix.clone(), ListOptions::default()).await.unwrap();
    assert_eq!(all, ListResponse { revision: revs[4], items: original.clone(), more: false, count: 5 });
    assert_eq!(all.remaining(), 0);
    assert_eq!(be.count(prefix.clone()).await.unwrap(), 5);
    let counted = be.list(prefix.clone(), ListOptions { count_only: true, ..ListOptions::default() }).await.unwrap();
    assert_eq!(counted, ListResponse { revision: revs[4], items: vec![], more: false, count: 5 });
    let exact = be.list(prefix.clone(), ListOptions::limit(5)).await.unwrap();
    assert_eq!((exact.items.len(), exact.more, exact.continue_key()), (5, false, None));

    // A paginated list: later pages are read at the first page's revision, whatever
    // happens in between.
    let first_opts = ListOptions::limit(2);
    let page1 = be.list(prefix.clone(), first_opts.clone()).await.unwrap();
    let at = page1.revision;
    assert_eq!(page1, ListResponse { revision: at, items: original[..2].to_vec(), more: true, count: 5 });
    assert_eq!(page1.remaining(), 3);

    let r_update = be.update(b("/list/k3"), b("v3b"), revs[2], None).await.unwrap();
    be.delete(b("/list/k4"), None).await.unwrap();
    let r_new = be.create(b("/list/k6"), b("v6"), None).await.unwrap();

    let opts2 = first_opts.next_page(&page1).unwrap();
    assert_eq!(opts2.continue_from_key, Some(b("/list/k2\0")));
    assert_eq!(opts2.revision, at);
    let page2 = be.list(prefix.clone(), opts2.clone()).await.unwrap();
    assert_eq!(page2, ListResponse { revision: at, items: original[2..4].to_vec(), more: true, count: 3 });
    assert_eq!(page2.remaining(), 1);
    let opts3 = opts2.next_page(&page2).unwrap();
    let page3 = be.list(prefix.clone(), opts3.clone()).await.unwrap();
    assert_eq!(page3, ListResponse { revision: at, items: original[4..].to_vec(), more: false, count: 1 });
    assert_eq!(opts3.next_page(&page3), None);

    // The latest state has all three writes.
    let latest = be.list(prefix.clone(), ListOptions::default()).await.unwrap();
    let mut k3 = item(3, "v3b");
    (k3.mod_revision, k3.version) = (r_update, 2);
    let k6 = kv("/list/k6", "v6", r_new, r_new, 1);
    let expected = vec![item(1, "v1"), item(2, "v2"), k3, item(5, "v5"), k6];
    assert_eq!(latest, ListResponse { revision: r_new, items: expected, more: false, count: 5 });

    // Errors.
    let future = ListOptions { revision: r_new + 100, ..ListOptions::default() };
    assert_eq!(be.list(prefix.clone(), future).await, Err(BackendError::FutureRevision));
    let outside = ListOptions { continue_from_key: Some(b("/lisa")), ..ListOptions::limit(1) };
    let err = be.list(prefix.clone(), outside).await.unwrap_err();
    assert!(matches!(&err, BackendError::InvalidArgument(m) if m.contains("/lisa")), "{err}");
    assert!(matches!(be.list(Bytes::new(), ListOptions::default()).await, Err(BackendError::InvalidArgument(_))));
}

async fn watches(be: &dyn Backend) {
    let prefix = b("/watch/");
    let r0 = be.current_revision().await.unwrap();

    // History: create, update, delete, another key, re-create.
    let ra1 = be.create(b("/watch/a"), b("1"), None).await.unwrap();
    let ra2 = be.update(b("/watch/a"), b("2"), ra1, None).await.unwrap();
    let rdel = be.delete(b("/watch/a"), Some(ra2)).await.unwrap().revision;
    let rb1 = be.create(b("/watch/b"), b("1"), None).await.unwrap();
    for key in ["/watch", "/watch0", "/watcher"] {
        be.create(b(key), b("outside"), None).await.unwrap();
    }
    let ra3 = be.create(b("/watch/a"), b("3"), None).await.unwrap();

    // A watch from the past replays history, then continues live.
    let mut w = be.watch(prefix.clone(), WatchOptions::prefix().from_revision(r0 + 1)).await.unwrap();
    let a1 = kv("/watch/a", "1", ra1, ra1, 1);
    let a2 = kv("/watch/a", "2", ra1, ra2, 2);
    let b1 = kv("/watch/b", "1", rb1, rb1, 1);
    assert_eq!(next(&mut w).await, added(a1.clone(), None));
    assert_eq!(next(&mut w).await, modified(a2.clone(), Some(a1)));
    assert_eq!(next(&mut w).await, deleted(tombstone("/watch/a", rdel), Some(a2)));
    assert_eq!(next(&mut w).await, added(b1.clone(), None));
    // Created again after its deletion: added, with no previous value.
    assert_eq!(next(&mut w).await, added(kv("/watch/a", "3", ra3, ra3, 1), None));

    let rb2 = be.update(b("/watch/b"), b("2"), rb1, None).await.unwrap();
    let b2 = kv("/watch/b", "2", rb1, rb2, 2);
    assert_eq!(next(&mut w).await, modified(b2.clone(), Some(b1)));
    let rbdel = be.delete(b("/watch/b"), None).await.unwrap().revision;
    assert_eq!(next(&mut w).await, deleted(tombstone("/watch/b", rbdel), Some(b2)));
    expect_progress(&mut w, rbdel).await;

    // A watch from now sees only what follows; a key watch only its key, and without
    // previous values when not asked.
    let mut key_watch = be.watch(b("/watch/a"), WatchOptions::default()).await.unwrap();
    let mut now_watch = be.watch(prefix.clone(), WatchOptions::prefix()).await.unwrap();

    // A burst: every revision delivered once, in order.
    let mut burst = Vec::new();
    for i in 0..100 {
        burst.push(be.create(b(&format!("/watch/burst/{i:03}")), b("x"), None).await.unwrap());
    }
    let ra4 = be.update(b("/watch/a"), b("4"), ra3, None).await.unwrap();
    burst.push(ra4);
    for watch in [&mut w, &mut now_watch] {
        let mut seen = Vec::new();
        for _ in 0..burst.len() {
            seen.push(next(watch).await.revision().unwrap());
        }
        assert_eq!(seen, burst);
        expect_progress(watch, ra4).await;
    }
    assert_eq!(next(&mut key_watch).await, modified(kv("/watch/a", "4", ra3, ra4, 2), None));
    expect_progress(&mut key_watch, ra4).await;

    // Bad input.
    let negative = WatchOptions { start_revision: -1, ..WatchOptions::prefix() };
    assert!(matches!(be.watch(prefix.clone(), negative).await, Err(BackendError::InvalidArgument(_))));
}

async fn leases(be: &dyn Backend) {
    let lease = be.grant_lease(2).await.unwrap();
    assert!(lease > 0);
    let mut w = be.watch(b("/lease/"), WatchOptions::prefix()).await.unwrap();

    let ra = be.create(b("/lease/a"), b("1"), Some(lease)).await.unwrap();
    let rb = be.create(b("/lease/b"), b("1"), None).await.unwrap();
    let ra2 = be.update(b("/lease/a"), b("2"), ra, Some(lease)).await.unwrap();
    let a1 = KeyValue { lease, ..kv("/lease/a", "1", ra, ra, 1) };
    let a2 = KeyValue { lease, ..kv("/lease/a", "2", ra, ra2, 2) };
    assert_eq!(be.get(b("/lease/a")).await.unwrap().kv, Some(a2.clone()));
    assert_eq!(next(&mut w).await, added(a1.clone(), None));
    assert_eq!(next(&mut w).await, added(kv("/lease/b", "1", rb, rb, 1), None));
    assert_eq!(next(&mut w).await, modified(a2.clone(), Some(a1)));
    // A put without the lease detaches the key from it.
    let rc = be.create(b("/lease/c"), b("1"), Some(lease)).await.unwrap();
    let rc2 = be.update(b("/lease/c"), b("2"), rc, None).await.unwrap();
    let c2 = kv("/lease/c", "2", rc, rc2, 2);
    assert_eq!(next(&mut w).await, added(KeyValue { lease, ..kv("/lease/c", "1", rc, rc, 1) }, None));
    assert_eq!(next(&mut w).await.change().unwrap().kv, c2);

    // The lease expires: its key is deleted like any other, the other keys stay.
    let waited = Instant::now();
    let BackendEvent::Deleted(change) = next(&mut w).await else { panic!("expected the lease's key to be deleted") };
    assert_eq!(change.prev_kv, Some(a2));
    assert_eq!(change.kv.key, b("/lease/a"));
    assert!(waited.elapsed() < Duration::from_secs(10), "the lease took {:?} to expire", waited.elapsed());
    let now = be.get(b("/lease/a")).await.unwrap();
    assert_eq!((now.kv, now.revision), (None, change.kv.mod_revision));
    assert!(be.get(b("/lease/b")).await.unwrap().kv.is_some());
    assert_eq!(be.get(b("/lease/c")).await.unwrap().kv, Some(c2));
    assert_eq!(
        be.create(b("/lease/d"), b("1"), Some(lease)).await,
        Err(BackendError::LeaseNotFound { lease }),
        "an expired lease is gone"
    );
    assert!(matches!(be.grant_lease(0).await, Err(BackendError::InvalidArgument(_))));
}

async fn compaction(be: &dyn Backend) {
    let prefix = b("/compact/");
    let r1 = be.create(b("/compact/a"), b("1"), None).await.unwrap();
    let r2 = be.create(b("/compact/b"), b("1"), None).await.unwrap();
    be.create(b("/compact/c"), b("1"), None).await.unwrap();

    // A paginated list whose revision is compacted between pages fails (k8s: "continue
    // parameter is too old").
    let first = ListOptions::limit(1);
    let page1 = be.list(prefix.clone(), first.clone()).await.unwrap();
    let at = be.update(b("/compact/b"), b("2"), r2, None).await.unwrap();
    assert_eq!(be.compact(at).await, Ok(()));
    let next_page = first.next_page(&page1).unwrap();
    assert_eq!(be.list(prefix.clone(), next_page).await, Err(BackendError::Compacted { compact_revision: 0 }));
    let before = ListOptions { revision: at - 1, ..ListOptions::default() };
    assert_eq!(be.list(prefix.clone(), before).await, Err(BackendError::Compacted { compact_revision: 0 }));

    // The compaction revision itself is still readable.
    let kept = be.list(prefix.clone(), ListOptions { revision: at, ..ListOptions::default() }).await.unwrap();
    assert_eq!(kept.items.len(), 3);
    assert_eq!(kept.revision, at);

    // A watch from before the compaction ends at once with the compaction's revision.
    let mut w = be.watch(prefix.clone(), WatchOptions::prefix().from_revision(r1)).await.unwrap();
    assert_eq!(next(&mut w).await, BackendEvent::Error(BackendError::Compacted { compact_revision: at }));
    assert_eq!(tokio::time::timeout(WAIT, w.next()).await.unwrap(), None, "nothing follows the error");

    // From the compaction revision on, history is there (its previous values are not).
    let mut w = be.watch(prefix.clone(), WatchOptions::prefix().from_revision(at)).await.unwrap();
    assert_eq!(next(&mut w).await, modified(kv("/compact/b", "2", r2, at, 2), None));

    // Compacting again, or ahead of the store, fails.
    assert_eq!(be.compact(at).await, Err(BackendError::Compacted { compact_revision: 0 }));
    assert_eq!(be.compact(at - 1).await, Err(BackendError::Compacted { compact_revision: 0 }));
    assert_eq!(be.compact(at + 100).await, Err(BackendError::FutureRevision));
    assert!(matches!(be.compact(0).await, Err(BackendError::InvalidArgument(_))));
}

/// After the suite (which compacted): a watch from revision 1 is canceled on the wire as
/// etcd cancels it, with the compaction revision and no cancel reason.
async fn compacted_watch_on_the_wire(endpoint: &str) {
    let client = kstore::client::Client::connect(endpoint).await.unwrap();
    let req = WatchRequest { key: b("/compact/"), range_end: b("/compact0"), start_revision: 1, ..Default::default() };
    let mut watch = client.watch(&req).await.unwrap();
    assert!(matches!(watch.next().await.unwrap(), Some(WatchMessage::Created { .. })));
    let Some(WatchMessage::Canceled { compact_revision, reason, .. }) = watch.next().await.unwrap() else {
        panic!("expected a cancellation")
    };
    assert!(compact_revision > 1);
    assert_eq!(reason, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store() {
    let store = Arc::new(Store::open(StoreConfig::single(1, None)).await.unwrap());
    let backend: DynBackend = Arc::new(EmbeddedBackend::new(store));
    conformance(&*backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_kstore_over_grpc() {
    let store = Arc::new(Store::open(StoreConfig::single(1, None)).await.unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let server = tokio::spawn(kstore::grpc::serve(store, listener, stop.clone()));
    let backend: DynBackend = Arc::new(RemoteBackend::connect(&addr.to_string()).await.unwrap());
    conformance(&*backend).await;
    compacted_watch_on_the_wire(&addr.to_string()).await;
    stop.cancel();
    server.await.unwrap().unwrap();
}

/// A real etcd on loopback ports, killed when dropped.
struct Etcd {
    child: Child,
    endpoint: String,
    dir: tempfile::TempDir,
}

impl Etcd {
    fn start() -> Etcd {
        assert!(
            Path::new(ETCD).exists(),
            "{ETCD} is missing: this test runs the backend suite against the real etcd 3.4; install Debian's \
             etcd-server package (bash scripts/install-deps.sh installs everything the tests need)"
        );
        let free_port = || TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let client_url = format!("http://127.0.0.1:{}", free_port());
        let peer_url = format!("http://127.0.0.1:{}", free_port());
        let log = std::fs::File::create(dir.path().join("etcd.log")).unwrap();
        let child = Command::new(ETCD)
            .args(["--name", "e1", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["--listen-client-urls", &client_url, "--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("e1={peer_url}")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Etcd { child, endpoint: client_url, dir }
    }

    /// Connects once etcd answers reads.
    async fn backend(&mut self) -> RemoteBackend {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(backend) = RemoteBackend::connect(&self.endpoint).await {
                if backend.current_revision().await.is_ok() {
                    return backend;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("etcd exited with {status}: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "etcd did not answer at {} within {WAIT:?}: {}",
                self.endpoint,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default()
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_real_etcd() {
    let mut etcd = Etcd::start();
    let backend: DynBackend = Arc::new(etcd.backend().await);
    conformance(&*backend).await;
    compacted_watch_on_the_wire(&etcd.endpoint).await;
}

/// Errors classify the same whether they come from the store or over gRPC.
#[test]
fn store_and_client_errors_classify_alike() {
    let store = |e: MvccError| BackendError::from(StoreError::from(e));
    let remote = |code, message: &str| BackendError::from(ClientError::Status { code, message: message.into() });
    let compacted = BackendError::Compacted { compact_revision: 0 };
    assert_eq!(store(MvccError::Compacted), compacted);
    assert_eq!(remote(Code::OutOfRange, "etcdserver: mvcc: required revision has been compacted"), compacted);
    assert_eq!(store(MvccError::FutureRevision), BackendError::FutureRevision);
    assert_eq!(
        remote(Code::OutOfRange, "etcdserver: mvcc: required revision is a future revision"),
        BackendError::FutureRevision
    );
    assert_eq!(store(MvccError::LeaseNotFound), remote(Code::NotFound, "etcdserver: requested lease not found"));
    assert_eq!(store(MvccError::EmptyKey), BackendError::InvalidArgument("etcdserver: key is not provided".into()));
    let stopped = BackendError::from(StoreError::Raft(kraft::node::NodeError::Stopped));
    assert_eq!(stopped, BackendError::Unavailable("etcdserver: server stopped".into()));
    assert!(stopped.is_retryable());
    assert!(BackendError::from(ClientError::Connect("connection refused".into())).is_retryable());
    assert!(!BackendError::FutureRevision.is_retryable());

    let conflict = BackendError::Conflict { key: b("/registry/pods/a"), current: None };
    assert_eq!(conflict.to_string(), "key \"/registry/pods/a\" was modified: it no longer exists");
    assert_eq!(
        BackendError::Compacted { compact_revision: 9 }.to_string(),
        "required revision has been compacted (compacted at 9)"
    );
}
