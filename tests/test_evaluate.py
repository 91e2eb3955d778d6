from napari_colorgan.train.evaluate import evaluate_model, format_table


def test_every_row_gets_the_realism_measures(ihc_heldout):
    results = evaluate_model("histology", {"ihc": ihc_heldout}, two_sample=True)
    rows = results["ihc"]
    assert set(rows) == {"model", "gray", "mean-chroma"}
    for m in rows.values():
        assert 0 <= m["two_sample_accuracy"] <= 1 and m["ab_hist_distance"] >= 0
    # the shipped stain model's colours are nearer the truth's than leaving it gray,
    # and a fresh classifier tells gray from the truth more easily than the model
    assert rows["model"]["ab_hist_distance"] < rows["gray"]["ab_hist_distance"]
    assert rows["model"]["two_sample_accuracy"] < rows["gray"]["two_sample_accuracy"]
    header = format_table(results).splitlines()[0]
    assert "ab_hist_distance" in header and "two_sample_accuracy" in header


def test_the_two_sample_column_is_opt_in(ihc_heldout):
    results = evaluate_model("histology", {"ihc": ihc_heldout[:64]})
    assert "two_sample_accuracy" not in results["ihc"]["model"]
    header = format_table(results).splitlines()[0]
    assert "ab_hist_distance" in header and "two_sample_accuracy" not in header
