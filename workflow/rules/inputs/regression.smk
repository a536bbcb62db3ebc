# Input functions and settings of the regression rules (workflow/rules/regression.smk); no rules here.


def regression_section(wildcards):
    return dataset_cfg(wildcards.dataset).get("regression", {})


def window_files(wildcards):
    return per_chunk("results/{dataset}/windows/chunk-{chunk}.npz", wildcards)


def regressor_names(dataset):
    """Estimator names of the trained regressors: nn, and nn_abspos for the stage-3 study."""
    reg = dataset_cfg(dataset).get("regression", {})
    return ["nn", "nn_abspos"] if reg.get("compare_absolute_position") else ["nn"]


REGRESSOR_MODEL = {"nn": "regressor", "nn_abspos": "regressor_abspos"}


def regressor_models(wildcards):
    return [
        f"results/{wildcards.dataset}/models/{REGRESSOR_MODEL[n]}.pt"
        for n in regressor_names(wildcards.dataset)
    ]
