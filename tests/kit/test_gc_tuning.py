import gc

from whowhywhen.kit.gc_tuning import YOUNG_THRESHOLD, tune_for_server


def test_freezes_start_up_state_and_enlarges_the_young_generation() -> None:
    before = gc.get_threshold()
    try:
        tune_for_server()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (YOUNG_THRESHOLD, before[1], before[2])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
