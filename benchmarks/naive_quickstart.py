"""The naive baseline: MLflow's quickstart, as most projects start, on the model pack's data and estimator.

Fit the same pipeline the project trains (the pack's features, preprocessing
and estimator) on the pack's bundled rows, ``mlflow.sklearn.log_model`` it with
a signature and an input example but no explicit requirements (MLflow infers
them), register it and set an alias. What differs from the project's run is
only how it uses MLflow. Usage: ``python naive_quickstart.py TRACKING_URI``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mlflow
import mlflow.sklearn
from mlflow.models import infer_signature
from sklearn.model_selection import train_test_split

from src.data.contract import CONTRACT, load_bundled
from src.features.feature_set import resolve_features
from src.models.classifier import build_model, skops_trusted_types
from src.utils.config import load_feature_config, load_model_config

mlflow.set_tracking_uri(sys.argv[1])
mlflow.set_experiment("naive-quickstart")
frame = load_bundled()
X, y = frame.loc[:, list(CONTRACT.input_names)], frame[CONTRACT.target.name]
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
config = load_model_config()
with mlflow.start_run():
    features = resolve_features(load_feature_config().features)
    model = build_model(CONTRACT, features, config.model, seed=42).fit(X_train, y_train)
    mlflow.log_params(dict(config.model.params))
    mlflow.log_metric("accuracy", model.score(X_test, y_test))
    info = mlflow.sklearn.log_model(
        model,
        name="model",
        signature=infer_signature(X_train, model.predict(X_train)),
        input_example=X_train.head(3),
        registered_model_name="naive_model",
        skops_trusted_types=list(skops_trusted_types(model)),  # MLflow 3 writes skops: the pipeline's own types
    )
mlflow.MlflowClient().set_registered_model_alias("naive_model", "dev", info.registered_model_version)
