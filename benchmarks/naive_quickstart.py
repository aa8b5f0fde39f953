"""The naive baseline: MLflow's quickstart, as most projects start.

Train a LogisticRegression on Iris, ``mlflow.sklearn.log_model`` with a
signature and an input example but no explicit requirements (MLflow infers
them), register it and set an alias. Usage: ``python naive_quickstart.py TRACKING_URI``.
"""

import sys

import mlflow
import mlflow.sklearn
from mlflow.models import infer_signature
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

mlflow.set_tracking_uri(sys.argv[1])
mlflow.set_experiment("naive-quickstart")
X, y = load_iris(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=42)
params = {"max_iter": 1000, "random_state": 42}
with mlflow.start_run():
    model = LogisticRegression(**params).fit(X_train, y_train)
    mlflow.log_params(params)
    mlflow.log_metric("accuracy", model.score(X_test, y_test))
    info = mlflow.sklearn.log_model(
        model,
        name="model",
        signature=infer_signature(X_train, model.predict(X_train)),
        input_example=X_train.head(3),
        registered_model_name="naive_iris",
    )
mlflow.MlflowClient().set_registered_model_alias("naive_iris", "dev", info.registered_model_version)
