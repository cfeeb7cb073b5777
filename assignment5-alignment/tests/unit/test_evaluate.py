"""evaluate_policy with a scripted engine: categories, accuracies and per-example records."""

from cs336_alignment.data import MathExample
from cs336_alignment.evaluate import category_examples, evaluate_policy
from cs336_alignment.rewards import get_protocol
from cs336_alignment.rollout.base import Completion, SamplingParams


class ScriptedEngine:
    def __init__(self, texts):
        self.texts = texts
        self.prompts = None

    def generate(self, prompts, params):
        self.prompts = prompts
        return [[Completion(t, list(range(len(t.split()))), "stop")] for t in self.texts]

    def sync_weights(self, policy):
        pass


def test_categories_and_metrics():
    examples = [MathExample("1+1?", "2"), MathExample("2+2?", "4"), MathExample("3+3?", "6"), MathExample("q", "1")]
    texts = [
        "a </think> <answer> 2 </answer>",
        "a </think> <answer> 5 </answer>",
        "the answer is 6",
        "x </think> <answer> 1 </answer>",
    ]
    engine = ScriptedEngine(texts)
    protocol = get_protocol("r1_zero")
    result = evaluate_policy(engine, examples, protocol, SamplingParams(stop=("</answer>",)))
    m = result.metrics
    assert engine.prompts[0] == protocol.format("1+1?")
    assert m["eval/answer_accuracy"] == 0.5 and m["eval/format_accuracy"] == 0.75
    assert (m["eval/num_correct"], m["eval/num_format_wrong_answer"], m["eval/num_unformatted"]) == (2, 1, 1)
    assert m["eval/mean_response_tokens_correct"] == 5.0 and m["eval/mean_response_tokens_incorrect"] == 4.5
    cats = category_examples(result.records, per_category=1)
    assert len(cats["correct"]) == 1 and cats["unformatted"][0]["response"] == "the answer is 6"
    assert [r["reward"] for r in result.records] == [1.0, 0.0, 0.0, 1.0]
