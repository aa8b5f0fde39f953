"""The Feast repository from the pack: rows keyed and stamped, feature services named after feature sets."""

import pandas as pd
import pytest

from src.data.contract import CONTRACT
from src.features.store_backend import FeatureStoreError
from src.features.store_repository import entity_frame, feature_service_of


def test_each_row_gets_a_key_and_an_event_a_minute_after_the_previous():
    keys = entity_frame(pd.DataFrame(index=range(3)))
    assert keys[CONTRACT.entity_key].tolist() == [1, 2, 3]
    assert keys["event_timestamp"].diff().dropna().eq(pd.Timedelta(minutes=1)).all()


def test_a_model_s_feature_set_names_its_feature_service():
    assert feature_service_of("iris_species_features:v1") == "iris_species_features_v1"
    with pytest.raises(FeatureStoreError, match="not a feature set label"):
        feature_service_of("iris_species_features")
