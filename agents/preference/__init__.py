"""Online preference learning: PrefPPO and PEBBLE (``pbrl train --reward learned``).

* :mod:`.loop` — :class:`~.loop.PreferenceLoop`, the feedback rounds both share (segments,
  queries, teacher, store, reward-model ensemble, relabelling);
* :mod:`.prefppo` — PPO on the learned reward (B-Pref's PrefPPO);
* :mod:`.pebble` — SAC with unsupervised pre-training and relabelling (PEBBLE);
* :mod:`.options` — the loop's options, defaults and checks (no torch);
* :mod:`.methods` — the PEBBLE-family methods (``--pref method=surf|rune|qpa|rime``): which
  reward model each trains, with :mod:`.rune` (exploration bonus) and :mod:`.qpa`
  (policy-aligned queries, hybrid replay); their reward models are in ``pbrl.rewards``
  (``surf``, ``qpa``, ``rime``, ``crop``).

``README.md`` here documents every option and where each deviates from B-Pref.
"""
