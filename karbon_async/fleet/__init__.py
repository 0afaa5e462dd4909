"""Export many accounts on many machines: Celery workers, a Redis broker, PostgreSQL.

``karbon-async fleet submit ACCOUNTS.toml --to postgresql://... --broker redis://...`` splits
the accounts into shards and enqueues one Celery task per shard; ``karbon-async fleet worker
--broker redis://...`` runs them, each shard's export with asyncio inside the task:

* every account's budget is a ``RedisBudget`` (in the broker's Redis unless ``--redis`` says
  otherwise), so an account stays within its limit whichever workers touch it;
* rows and checkpoints go to PostgreSQL in the same transactions (``PostgresSink``), so a
  shard whose worker died mid-run is redelivered (tasks are acknowledged late and rejected
  when their worker is lost) and resumes from its checkpoints: every record once;
* a submission is a *pass* (a new ``pass_id``): its tasks always run with ``resume=True``,
  and a stream that a task of the same pass finished is not exported again;
* PostgreSQL is the pass's ledger (``_ledger``), the broker only its messenger: ``fleet
  submit`` records every shard before enqueueing it, a running shard holds a lease its worker
  renews, and every worker re-enqueues the shards of an open pass that are neither finished
  nor held (``_reaper``), so a broker that lost everything or a dead worker needs nobody;
* connections kept between shards are checked before each one; a shard that fails for a
  reason that passes (a connection lost, a server restarting) is retried by Celery with
  backoff, one that fails for good (a 401) is recorded once with its reason;
  ``fleet submit --wait`` and ``fleet status`` report from the ledger.

Nothing here imports Celery until a worker or a submission needs it (``pip install
'karbon-async[fleet]'``).
"""

from ._shards import ShardSpec, account_spec, accounts_of, make_shards, run_shard

__all__ = ["ShardSpec", "account_spec", "accounts_of", "make_shards", "run_shard"]
