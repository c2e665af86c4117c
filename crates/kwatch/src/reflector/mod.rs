//! The reflector: keeps a [`Sink`] (a store, an informer) in step with a [`ListerWatcher`].
//!
//! It follows client-go's `Reflector`:
//!
//! - **List**: paginated (500 per page) from `resourceVersion="0"` at first, then from the
//!   last version seen; from `""` (a consistent read) after a 410 or a "too large" answer.
//!   A continue token that expires mid-list falls back to one unpaginated list. Pages are
//!   applied as they arrive ([`StoreOp::RelistItem`]), so a relist never holds a second
//!   copy of the store.
//! - **Streaming list** (opt-in, [`ReflectorConfig::streaming_list`]): a watch with
//!   `sendInitialEvents=true` whose initial `Added` events end at the bookmark annotated
//!   `k8s.io/initial-events-end`; the same watch then goes on. Any failure falls back to the
//!   paginated list for that attempt.
//! - **Watch** from the list's version with bookmarks, a server timeout drawn in
//!   `[min_watch_timeout, 2·min_watch_timeout)` (5–10 min). A watch that ends normally is
//!   reopened from the last version seen; 410 Expired ends it and the reflector lists again;
//!   429 and transport failures back off and watch again.
//! - **Backoff** between list-and-watch attempts: 800 ms doubling to 30 s with full jitter,
//!   reset after 2 quiet minutes ([`Backoff`]).

mod backoff;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, trace, warn};

pub use backoff::{Backoff, BackoffConfig};

use crate::lister::{
    ListParams, ListerWatcher, ResourceVersionMatch, WatchError, WatchEvent, WatchParams, WatchStream,
};
use crate::metrics::ResourceMetrics;
use crate::object::{Object, Transform, check_keyable};
use crate::store::{StoreOp, StoreWriter};

/// Errors of the reflector. Only [`ReflectorError::Config`] is returned to callers; the
/// others are logged, and the reflector backs off and lists again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReflectorError {
    /// The configuration is invalid.
    #[error("invalid reflector configuration: {0}")]
    Config(String),
    /// A list failed.
    #[error("list failed: {0}")]
    List(WatchError),
    /// A watch could not be opened or ended with an error.
    #[error("watch failed: {0}")]
    Watch(WatchError),
    /// A watch closed within a second without a single event.
    #[error("very short watch: the watch closed within a second without an event")]
    ShortWatch,
    /// The server answered a streaming list with a plain watch (a bookmark arrived without
    /// the `k8s.io/initial-events-end` annotation).
    #[error("the server ignored sendInitialEvents: a bookmark came without k8s.io/initial-events-end")]
    StreamingUnsupported,
}

/// What a reflector feeds.
pub trait Sink<K>: Send {
    /// Applies one operation.
    fn apply(&mut self, op: StoreOp<K>);
}

impl<K: Object> Sink<K> for StoreWriter<K> {
    fn apply(&mut self, op: StoreOp<K>) {
        StoreWriter::apply(self, op);
    }
}

/// Settings of a reflector.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReflectorConfig {
    /// Name used in logs and metrics (`pods`, `deployments.apps`).
    pub resource: String,
    /// Items per list page (500); 0 lists in one request.
    pub page_size: u32,
    /// Try a streaming list (`sendInitialEvents`) before a paginated one (off).
    pub streaming_list: bool,
    /// Watches time out after a random duration in `[this, 2·this)` (5 min).
    pub min_watch_timeout: Duration,
    /// Backoff between attempts.
    pub backoff: BackoffConfig,
    /// Label selector of the lists and watches.
    pub label_selector: Option<String>,
    /// Field selector of the lists and watches.
    pub field_selector: Option<String>,
}

impl Default for ReflectorConfig {
    fn default() -> Self {
        Self {
            resource: "objects".into(),
            page_size: 500,
            streaming_list: false,
            min_watch_timeout: Duration::from_secs(300),
            backoff: BackoffConfig::default(),
            label_selector: None,
            field_selector: None,
        }
    }
}

impl ReflectorConfig {
    /// The default settings for `resource`.
    pub fn new(resource: impl Into<String>) -> Self {
        Self { resource: resource.into(), ..Self::default() }
    }

    /// Sets the page size.
    #[must_use]
    pub fn page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size;
        self
    }

    /// Turns streaming lists on or off.
    #[must_use]
    pub fn streaming_list(mut self, on: bool) -> Self {
        self.streaming_list = on;
        self
    }

    /// Sets the label selector.
    #[must_use]
    pub fn labels(mut self, selector: impl Into<String>) -> Self {
        self.label_selector = Some(selector.into());
        self
    }

    /// Sets the field selector.
    #[must_use]
    pub fn fields(mut self, selector: impl Into<String>) -> Self {
        self.field_selector = Some(selector.into());
        self
    }

    /// Checks the settings; the message names the first bad one.
    pub fn validate(&self) -> Result<(), ReflectorError> {
        self.backoff.validate().map_err(ReflectorError::Config)?;
        if self.min_watch_timeout.is_zero() {
            return Err(ReflectorError::Config("min_watch_timeout must be positive".into()));
        }
        for (what, sel) in [("label", &self.label_selector), ("field", &self.field_selector)] {
            if sel.as_deref().is_some_and(|s| s.trim() != s) {
                return Err(ReflectorError::Config(format!("{what} selector {sel:?} has surrounding spaces")));
            }
        }
        Ok(())
    }
}

/// Items applied between voluntary yields, so that handlers on the same runtime thread get
/// to run during a long list or a burst of events even when the source never blocks.
const YIELD_EVERY: usize = 128;

/// Why a step stopped.
enum Halt {
    Cancelled,
    Failed(ReflectorError),
}

impl From<ReflectorError> for Halt {
    fn from(e: ReflectorError) -> Self {
        Halt::Failed(e)
    }
}

async fn cancellable<F: Future>(cancel: &CancellationToken, fut: F) -> Result<F::Output, Halt> {
    tokio::select! {
        biased;
        () = cancel.cancelled() => Err(Halt::Cancelled),
        out = fut => Ok(out),
    }
}

/// Keeps a sink in step with a source. See the [module documentation](self).
pub struct Reflector<K> {
    lw: Arc<dyn ListerWatcher<K>>,
    config: ReflectorConfig,
    transform: Option<Transform<K>>,
    metrics: ResourceMetrics,
    backoff: Backoff,
    /// The last version seen in a list, event or bookmark.
    last_sync_rv: String,
    /// The last list or watch said `last_sync_rv` is expired or too new.
    rv_unavailable: bool,
    /// The first list (`resourceVersion="0"`) came in pages: keep paginating.
    paginated_result: bool,
    /// The server answered a streaming list with a plain watch: stop trying.
    streaming_unsupported: bool,
    lists: u64,
}

impl<K: Object> Reflector<K> {
    /// A reflector reading from `lw`.
    pub fn new(lw: impl ListerWatcher<K> + 'static, config: ReflectorConfig) -> Result<Self, ReflectorError> {
        config.validate()?;
        let backoff = Backoff::new(config.backoff, Instant::now().into_std());
        Ok(Self {
            lw: Arc::new(lw),
            config,
            transform: None,
            metrics: ResourceMetrics::default(),
            backoff,
            last_sync_rv: String::new(),
            rv_unavailable: false,
            paginated_result: false,
            streaming_unsupported: false,
            lists: 0,
        })
    }

    /// Applies `transform` to every object before it reaches the sink.
    #[must_use]
    pub fn transform(mut self, transform: Transform<K>) -> Self {
        self.transform = Some(transform);
        self
    }

    /// Counts into these metrics.
    #[must_use]
    pub fn metrics(mut self, metrics: ResourceMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Lists and watches until `cancel` fires, feeding `sink`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops the reflector like cancelling the token does; the sink
    /// keeps what was applied, and a list in progress is simply not finished.
    pub async fn run(mut self, mut sink: impl Sink<K>, cancel: CancellationToken) {
        let span = info_span!("reflector", resource = %self.config.resource);
        async move {
            info!("starting");
            loop {
                match self.list_and_watch(&mut sink, &cancel).await {
                    Err(Halt::Cancelled) => break,
                    Err(Halt::Failed(e)) => warn!(error = %e, "list and watch failed"),
                    Ok(()) => {}
                }
                if self.backoff(&cancel).await.is_err() {
                    break;
                }
            }
            info!("stopped");
        }
        .instrument(span)
        .await;
    }

    async fn backoff(&mut self, cancel: &CancellationToken) -> Result<(), Halt> {
        let delay = self.backoff.next_delay(Instant::now().into_std(), rand::random::<f64>());
        debug!(?delay, "backing off");
        cancellable(cancel, tokio::time::sleep(delay)).await
    }

    fn watch_timeout(&self) -> Duration {
        let secs = self.config.min_watch_timeout.as_secs_f64() * (1.0 + rand::random::<f64>());
        Duration::from_secs(secs as u64)
    }

    /// client-go's `relistResourceVersion`.
    fn relist_rv(&self) -> String {
        if self.rv_unavailable {
            String::new()
        } else if self.last_sync_rv.is_empty() {
            "0".into()
        } else {
            self.last_sync_rv.clone()
        }
    }

    fn count_list(&mut self) {
        self.metrics.lists.inc();
        if self.lists > 0 {
            self.metrics.relists.inc();
        }
        self.lists += 1;
    }

    fn prepare(&self, obj: K) -> Option<K> {
        let obj = match &self.transform {
            Some(t) => t.apply(obj),
            None => obj,
        };
        match check_keyable(&obj) {
            Ok(()) => Some(obj),
            Err(e) => {
                warn!(error = %e, "dropping an object that cannot be keyed");
                None
            }
        }
    }

    async fn list_and_watch(&mut self, sink: &mut impl Sink<K>, cancel: &CancellationToken) -> Result<(), Halt> {
        let mut stream = None;
        if self.config.streaming_list && !self.streaming_unsupported {
            match self.watch_list(sink, cancel).await {
                Ok(s) => stream = Some(s),
                Err(Halt::Cancelled) => return Err(Halt::Cancelled),
                Err(Halt::Failed(e)) => {
                    warn!(error = %e, "streaming list failed, falling back to a paginated list");
                    if e == ReflectorError::StreamingUnsupported {
                        self.streaming_unsupported = true;
                    }
                }
            }
        }
        if stream.is_none() {
            self.list(sink, cancel).await?;
        }
        self.watch(stream, sink, cancel).await
    }

    fn page_limit(&self, rv: &str) -> Option<u32> {
        let size = Some(self.config.page_size).filter(|s| *s > 0)?;
        // A list from a specific version can be served by the server's watch cache only
        // without a limit (client-go turns paging off then), unless paging proved needed.
        if self.paginated_result || rv.is_empty() || rv == "0" { Some(size) } else { None }
    }

    async fn list(&mut self, sink: &mut impl Sink<K>, cancel: &CancellationToken) -> Result<(), Halt> {
        self.count_list();
        let rv = self.relist_rv();
        let span = info_span!("list", resource_version = %rv);
        let result = match self.list_pages(&rv, sink, cancel).instrument(span.clone()).await {
            Err(Halt::Failed(ReflectorError::List(e))) if e.is_resource_version_unavailable() => {
                debug!(error = %e, "listed version unavailable, listing the most recent data");
                self.rv_unavailable = true;
                self.list_pages("", sink, cancel).instrument(span).await
            }
            other => other,
        };
        let (list_rv, paginated) = result?;
        if rv == "0" && paginated {
            self.paginated_result = true;
        }
        self.rv_unavailable = false;
        sink.apply(StoreOp::RelistEnd { resource_version: list_rv.clone() });
        debug!(resource_version = %list_rv, "list applied");
        self.last_sync_rv = list_rv;
        Ok(())
    }

    /// Lists every page at `rv`, feeding items as they come. Returns the list's version and
    /// whether it came in more than one page.
    async fn list_pages(
        &mut self,
        rv: &str,
        sink: &mut impl Sink<K>,
        cancel: &CancellationToken,
    ) -> Result<(String, bool), Halt> {
        let first = ListParams {
            label_selector: self.config.label_selector.clone(),
            field_selector: self.config.field_selector.clone(),
            limit: self.page_limit(rv),
            resource_version: rv.to_owned(),
            ..ListParams::default()
        };
        let mut params = first.clone();
        let mut paginated = false;
        sink.apply(StoreOp::RelistStart);
        loop {
            let page = match cancellable(cancel, self.lw.list(&params)).await? {
                Ok(page) => page,
                Err(e) if params.continue_token.is_some() && e.is_expired() => {
                    // client-go's pager: one unpaginated list at the original version.
                    debug!(error = %e, "continue token expired, listing without pages");
                    params = ListParams { limit: None, ..first.clone() };
                    sink.apply(StoreOp::RelistStart);
                    continue;
                }
                Err(e) => return Err(ReflectorError::List(e).into()),
            };
            trace!(items = page.items.len(), "page");
            for (i, item) in page.items.into_iter().enumerate() {
                if let Some(obj) = self.prepare(item) {
                    sink.apply(StoreOp::RelistItem(obj));
                }
                if i % YIELD_EVERY == YIELD_EVERY - 1 {
                    tokio::task::yield_now().await;
                }
            }
            match page.continue_token.filter(|t| !t.is_empty()) {
                Some(token) => {
                    paginated = true;
                    params.continue_token = Some(token);
                    // The server rejects a version together with a continue token.
                    params.resource_version = String::new();
                }
                None => return Ok((page.resource_version, paginated)),
            }
        }
    }

    fn watch_params(&self, streaming: bool) -> WatchParams {
        let resource_version = match (streaming, self.rv_unavailable) {
            (true, true) => String::new(),
            _ => self.last_sync_rv.clone(),
        };
        WatchParams {
            resource_version,
            timeout: Some(self.watch_timeout()),
            bookmarks: true,
            label_selector: self.config.label_selector.clone(),
            field_selector: self.config.field_selector.clone(),
            send_initial_events: streaming,
            resource_version_match: streaming.then_some(ResourceVersionMatch::NotOlderThan),
        }
    }

    async fn watch_list(
        &mut self,
        sink: &mut impl Sink<K>,
        cancel: &CancellationToken,
    ) -> Result<WatchStream<K>, Halt> {
        self.count_list();
        loop {
            let params = self.watch_params(true);
            let span = info_span!("streaming_list", resource_version = %params.resource_version);
            let start = Instant::now();
            self.metrics.watches.inc();
            let error = match cancellable(cancel, self.lw.watch(&params)).await? {
                Err(e) => e,
                Ok(mut stream) => {
                    sink.apply(StoreOp::RelistStart);
                    match self.handle_watch(&mut stream, sink, cancel, start, true).instrument(span).await {
                        Ok(Some(rv)) => {
                            self.rv_unavailable = false;
                            sink.apply(StoreOp::RelistEnd { resource_version: rv.clone() });
                            debug!(resource_version = %rv, "streaming list applied");
                            self.last_sync_rv = rv;
                            return Ok(stream);
                        }
                        // Closed before the end of the initial events: start over.
                        Ok(None) => continue,
                        Err(Halt::Failed(ReflectorError::Watch(e))) => e,
                        Err(other) => return Err(other),
                    }
                }
            };
            if error.is_retriable() {
                debug!(error = %error, "streaming list: backing off");
                self.backoff(cancel).await?;
            } else if error.is_resource_version_unavailable() {
                self.rv_unavailable = true;
            } else {
                return Err(ReflectorError::Watch(error).into());
            }
        }
    }

    async fn watch(
        &mut self,
        mut stream: Option<WatchStream<K>>,
        sink: &mut impl Sink<K>,
        cancel: &CancellationToken,
    ) -> Result<(), Halt> {
        loop {
            if cancel.is_cancelled() {
                return Err(Halt::Cancelled);
            }
            let start = Instant::now();
            let mut events = match stream.take() {
                Some(s) => s,
                None => {
                    let params = self.watch_params(false);
                    self.metrics.watches.inc();
                    match cancellable(cancel, self.lw.watch(&params)).await? {
                        Ok(s) => s,
                        Err(e) if e.is_retriable() => {
                            debug!(error = %e, "watch: backing off");
                            self.backoff(cancel).await?;
                            continue;
                        }
                        Err(e) => return Err(ReflectorError::Watch(e).into()),
                    }
                }
            };
            let span = info_span!("watch", resource_version = %self.last_sync_rv);
            match self.handle_watch(&mut events, sink, cancel, start, false).instrument(span).await {
                Ok(_) => {}
                Err(Halt::Failed(ReflectorError::Watch(e))) if e.is_expired() => {
                    debug!(error = %e, "watch expired, listing again");
                    return Ok(());
                }
                Err(Halt::Failed(ReflectorError::Watch(e @ WatchError::TooManyRequests(_)))) => {
                    debug!(error = %e, "watch: backing off");
                    self.backoff(cancel).await?;
                }
                Err(Halt::Failed(e)) => {
                    warn!(error = %e, "watch ended, listing again");
                    return Ok(());
                }
                Err(Halt::Cancelled) => return Err(Halt::Cancelled),
            }
        }
    }

    /// Consumes a watch. In the initial phase of a streaming list, objects are relist items
    /// and the initial-events-end bookmark ends the call with its version (`Some`).
    /// Otherwise returns `None` when the stream closes.
    async fn handle_watch(
        &mut self,
        stream: &mut WatchStream<K>,
        sink: &mut impl Sink<K>,
        cancel: &CancellationToken,
        start: Instant,
        initial: bool,
    ) -> Result<Option<String>, Halt> {
        let mut count = 0u64;
        while let Some(item) = cancellable(cancel, stream.next()).await? {
            let event = match item {
                Ok(event) => event,
                Err(e) => {
                    // A broken stream ends like a closed one: watch again from the last version.
                    debug!(error = %e, "watch stream broke");
                    break;
                }
            };
            count += 1;
            self.metrics.watch_events.inc();
            let (op, rv) = match event {
                WatchEvent::Error(status) => return Err(ReflectorError::Watch(WatchError::from_status(status)).into()),
                WatchEvent::Bookmark { resource_version, initial_events_end } => {
                    if initial {
                        if initial_events_end {
                            return Ok(Some(resource_version));
                        }
                        return Err(ReflectorError::StreamingUnsupported.into());
                    }
                    trace!(%resource_version, "bookmark");
                    (None, resource_version)
                }
                WatchEvent::Added(obj) | WatchEvent::Modified(obj) if initial => {
                    let rv = obj.resource_version().unwrap_or_default().to_owned();
                    (self.prepare(obj).map(StoreOp::RelistItem), rv)
                }
                WatchEvent::Added(obj) => {
                    let rv = obj.resource_version().unwrap_or_default().to_owned();
                    (self.prepare(obj).map(StoreOp::Added), rv)
                }
                WatchEvent::Modified(obj) => {
                    let rv = obj.resource_version().unwrap_or_default().to_owned();
                    (self.prepare(obj).map(StoreOp::Modified), rv)
                }
                WatchEvent::Deleted(obj) => {
                    let rv = obj.resource_version().unwrap_or_default().to_owned();
                    (self.prepare(obj).map(StoreOp::Deleted), rv)
                }
            };
            match op {
                Some(op) => sink.apply(op),
                None if !initial && !rv.is_empty() => sink.apply(StoreOp::Bookmark { resource_version: rv.clone() }),
                None => {}
            }
            if !initial && !rv.is_empty() {
                self.last_sync_rv = rv;
            }
            if count % YIELD_EVERY as u64 == 0 {
                tokio::task::yield_now().await;
            }
        }
        if count == 0 && start.elapsed() < Duration::from_secs(1) {
            return Err(ReflectorError::ShortWatch.into());
        }
        debug!(events = count, "watch closed");
        Ok(None)
    }
}

#[cfg(test)]
mod tests;
