//! A region's control-plane worker pool: every AWS API request of the region runs on one of a
//! bounded set of worker threads, with a bounded queue in front and a deadline for waiting in it.
//! The re-mirroring policy governs it as it governs the storage:
//!
//! - `legacy` (April 2011): one shared pool, no limit per zone, no shedding. When a zone's storage
//!   stops answering, its calls hold workers for the whole (long) storage time-out, the queue
//!   fills, and requests for every zone — even zone-free ones — wait past their deadline or are
//!   turned away.
//! - `hardened`: load shedding once the queue is half full, a zone's requests turned away once
//!   they hold a third of the pool (workers and queue), and a bulkhead per zone kept by the
//!   region (`Region::submit`, `Region::await_storage`): the calls waiting for one zone's storage
//!   may hold at most a third of the workers; while they do, that zone's requests are turned
//!   away before they queue. With the short storage time-out this policy also sets, a degraded
//!   zone fails fast and the others stay served.
//!
//! The pool knows nothing of HTTP: a job is a closure told whether it may run, called exactly
//! once — on a worker, or at once when it is turned away.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use squall_storage::PolicyKind;

/// Sizes of a region's pool, fixed at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// Worker threads.
    pub workers: usize,
    /// Requests that may wait for a worker.
    pub queue: usize,
    /// How long a request may wait in the queue before it is answered with an error instead.
    pub deadline: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self { workers: 16, queue: 128, deadline: Duration::from_secs(10) }
    }
}

/// Why a request did not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The queue is full (legacy), or half full (hardened sheds load before it fills).
    Overloaded,
    /// The calls waiting for this zone's storage hold their share of the workers (hardened: see
    /// `Region::submit`).
    ZoneBusy(String),
    /// It waited in the queue past its deadline.
    Expired { waited: Duration },
}

/// What a job is told: run now (on a worker), or why it will not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Run,
    Rejected(Rejection),
}

type Job = Box<dyn FnOnce(Admission) + Send>;

struct Queued {
    zone: Option<String>,
    enqueued: Instant,
    job: Job,
}

/// Figures of the pool, for `/_squall/status` and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolStatus {
    pub workers: usize,
    pub busy: usize,
    pub queued: usize,
    pub queue_capacity: usize,
    /// Requests of each zone queued or running.
    pub in_flight_by_zone: BTreeMap<String, usize>,
    /// Workers waiting for each zone's storage to answer (the region fills this in).
    pub waiting_for_storage: BTreeMap<String, usize>,
    pub completed: u64,
    /// Turned away: queue full or shed.
    pub rejected_overloaded: u64,
    /// Waited in the queue past the deadline.
    pub expired: u64,
}

struct State {
    queue: VecDeque<Queued>,
    busy: usize,
    in_flight: BTreeMap<String, usize>,
    counters: PoolStatus,
    stopping: bool,
}

struct Inner {
    settings: PoolSettings,
    policy: Arc<Mutex<PolicyKind>>,
    state: Mutex<State>,
    work: Condvar,
}

/// The worker pool of one region.
pub struct ApiPool {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ApiPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiPool").field("settings", &self.inner.settings).finish_non_exhaustive()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn policy(&self) -> PolicyKind {
        *self.policy.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ApiPool {
    /// Starts the workers (threads named `squall-api-<region>-<n>`).
    pub fn new(name: &str, settings: PoolSettings, policy: Arc<Mutex<PolicyKind>>) -> Self {
        let settings = PoolSettings { workers: settings.workers.max(1), ..settings };
        let inner = Arc::new(Inner {
            settings,
            policy,
            state: Mutex::new(State {
                queue: VecDeque::new(),
                busy: 0,
                in_flight: BTreeMap::new(),
                counters: PoolStatus::default(),
                stopping: false,
            }),
            work: Condvar::new(),
        });
        for n in 0..settings.workers {
            let inner = inner.clone();
            let spawned =
                std::thread::Builder::new().name(format!("squall-api-{name}-{n}")).spawn(move || work(&inner));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start an API worker");
            }
        }
        Self { inner }
    }

    /// Queues `job` for a worker, or calls it at once with the reason it is turned away.
    /// `zone` is the zone whose storage the request needs, if any.
    pub fn submit(&self, zone: Option<&str>, job: impl FnOnce(Admission) + Send + 'static) {
        let settings = self.inner.settings;
        let rejection = {
            let mut state = self.inner.lock();
            // Requests running or queued (a queued one may be about to go to an idle worker).
            let outstanding = state.busy + state.queue.len();
            let rejection = match self.inner.policy() {
                PolicyKind::Legacy if outstanding >= settings.workers + settings.queue => Some(Rejection::Overloaded),
                PolicyKind::Legacy => None,
                // A zone's share of the pool: one zone's flood cannot push the others out.
                PolicyKind::Hardened
                    if zone.is_some_and(|z| {
                        state.in_flight.get(z).copied().unwrap_or(0) >= (settings.workers + settings.queue).div_ceil(3)
                    }) =>
                {
                    Some(Rejection::Overloaded)
                }
                PolicyKind::Hardened if outstanding >= settings.workers + settings.queue.div_ceil(2) => {
                    Some(Rejection::Overloaded)
                }
                PolicyKind::Hardened => None,
            };
            match &rejection {
                Some(_) => state.counters.rejected_overloaded += 1,
                None => {
                    if let Some(z) = zone {
                        *state.in_flight.entry(z.to_string()).or_default() += 1;
                    }
                    let zone = zone.map(str::to_string);
                    state.queue.push_back(Queued { zone, enqueued: Instant::now(), job: Box::new(job) });
                    self.inner.work.notify_one();
                    return;
                }
            }
            rejection
        };
        if let Some(r) = rejection {
            job(Admission::Rejected(r));
        }
    }

    /// Requests of `zone` queued or running now.
    pub fn in_flight(&self, zone: &str) -> usize {
        self.inner.lock().in_flight.get(zone).copied().unwrap_or(0)
    }

    pub fn status(&self) -> PoolStatus {
        let state = self.inner.lock();
        PoolStatus {
            workers: self.inner.settings.workers,
            busy: state.busy,
            queued: state.queue.len(),
            queue_capacity: self.inner.settings.queue,
            in_flight_by_zone: state.in_flight.clone(),
            ..state.counters.clone()
        }
    }
}

impl Drop for ApiPool {
    /// Workers finish what is queued, then stop.
    fn drop(&mut self) {
        self.inner.lock().stopping = true;
        self.inner.work.notify_all();
    }
}

fn work(inner: &Inner) {
    let mut state = inner.lock();
    loop {
        let Some(next) = state.queue.pop_front() else {
            if state.stopping {
                return;
            }
            state = inner.work.wait(state).unwrap_or_else(PoisonError::into_inner);
            continue;
        };
        let waited = next.enqueued.elapsed();
        let admission = if waited > inner.settings.deadline {
            state.counters.expired += 1;
            Admission::Rejected(Rejection::Expired { waited })
        } else {
            state.busy += 1;
            Admission::Run
        };
        let ran = admission == Admission::Run;
        drop(state);
        let job = next.job;
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || job(admission))).is_err() {
            tracing::error!("an API job panicked; its worker goes on");
        }
        state = inner.lock();
        if ran {
            state.busy -= 1;
            state.counters.completed += 1;
        }
        if let Some(z) = &next.zone {
            // Zone names come from requests: a count at zero leaves, so they cannot pile up.
            if let Some(n) = state.in_flight.get_mut(z) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    state.in_flight.remove(z);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    fn pool(workers: usize, queue: usize, policy: PolicyKind) -> ApiPool {
        let settings = PoolSettings { workers, queue, deadline: Duration::from_secs(5) };
        ApiPool::new("test", settings, Arc::new(Mutex::new(policy)))
    }

    /// A job that holds its worker until the test lets go of `release`, then reports its admission.
    fn blocker(pool: &ApiPool, zone: Option<&str>, release: &Arc<Mutex<()>>, seen: &mpsc::Sender<Admission>) {
        let (release, seen) = (release.clone(), seen.clone());
        pool.submit(zone, move |a| {
            if a == Admission::Run {
                drop(release.lock());
            }
            let _ = seen.send(a);
        });
    }

    /// Submits a job that only reports its admission, and answers that admission.
    fn admission(p: &ApiPool, zone: Option<&str>) -> Admission {
        let (tx, rx) = mpsc::channel();
        p.submit(zone, move |a| drop(tx.send(a)));
        rx.recv().unwrap()
    }

    /// Waits (up to 10 s) until `n` workers run a job.
    fn wait_busy(p: &ApiPool, n: usize) {
        let started = Instant::now();
        while p.status().busy < n {
            assert!(started.elapsed() < Duration::from_secs(10), "{n} workers never got busy: {:?}", p.status());
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn legacy_queues_until_full_then_turns_away_every_zone() {
        let p = pool(2, 2, PolicyKind::Legacy);
        let release = Arc::new(Mutex::new(()));
        let held = release.lock().unwrap();
        let (seen, admissions) = mpsc::channel();
        for _ in 0..4 {
            blocker(&p, Some("z-a"), &release, &seen);
        }
        wait_busy(&p, 2);
        let s = p.status();
        assert_eq!((s.busy, s.queued), (2, 2), "two running, two queued: {s:?}");
        // Another zone, and a zone-free request, find the queue full.
        for zone in [Some("z-b"), None] {
            assert_eq!(admission(&p, zone), Admission::Rejected(Rejection::Overloaded));
        }
        drop(held);
        for _ in 0..4 {
            assert_eq!(admissions.recv().unwrap(), Admission::Run);
        }
        assert_eq!(p.status().rejected_overloaded, 2);
    }

    #[test]
    fn hardened_sheds_load_before_the_queue_is_full() {
        let p = pool(2, 4, PolicyKind::Hardened);
        let release = Arc::new(Mutex::new(()));
        let held = release.lock().unwrap();
        let (seen, admissions) = mpsc::channel();
        for zone in ["z-a", "z-a", "z-b", "z-b"] {
            blocker(&p, Some(zone), &release, &seen);
        }
        wait_busy(&p, 2);
        assert_eq!(admission(&p, None), Admission::Rejected(Rejection::Overloaded), "two queued of four: shed");
        assert_eq!(p.status().in_flight_by_zone.get("z-a"), Some(&2));
        drop(held);
        for _ in 0..4 {
            assert_eq!(admissions.recv().unwrap(), Admission::Run);
        }
    }

    #[test]
    fn hardened_turns_a_zone_away_once_it_holds_a_third_of_the_pool() {
        let p = pool(3, 6, PolicyKind::Hardened);
        let release = Arc::new(Mutex::new(()));
        let held = release.lock().unwrap();
        let (seen, admissions) = mpsc::channel();
        for _ in 0..3 {
            blocker(&p, Some("z-a"), &release, &seen);
        }
        wait_busy(&p, 3);
        // Three of nine: z-a's next request is turned away; another zone's and a zone-free one
        // still get in.
        assert_eq!(admission(&p, Some("z-a")), Admission::Rejected(Rejection::Overloaded));
        blocker(&p, Some("z-b"), &release, &seen);
        blocker(&p, None, &release, &seen);
        assert_eq!(p.status().queued, 2);
        drop(held);
        for _ in 0..5 {
            assert_eq!(admissions.recv().unwrap(), Admission::Run);
        }
    }

    #[test]
    fn a_request_that_waited_past_its_deadline_is_not_run() {
        let settings = PoolSettings { workers: 1, queue: 4, deadline: Duration::from_millis(20) };
        let p = ApiPool::new("test", settings, Arc::new(Mutex::new(PolicyKind::Legacy)));
        let release = Arc::new(Mutex::new(()));
        let held = release.lock().unwrap();
        let (seen, admissions) = mpsc::channel();
        blocker(&p, None, &release, &seen);
        wait_busy(&p, 1);
        blocker(&p, None, &release, &seen);
        std::thread::sleep(Duration::from_millis(60));
        drop(held);
        assert_eq!(admissions.recv().unwrap(), Admission::Run);
        assert!(matches!(admissions.recv().unwrap(), Admission::Rejected(Rejection::Expired { .. })));
        assert_eq!(p.status().expired, 1);
    }
}
