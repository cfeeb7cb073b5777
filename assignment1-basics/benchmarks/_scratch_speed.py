import sys, time, json
import torch
from cs336_basics.model import TransformerLM
from cs336_basics.optimizer import AdamW
from cs336_basics.accounting import flops_per_token, lookup_peak_flops
import transformers

torch.backends.cuda.matmul.allow_tf32 = True
dev = "cuda"

def hf_model(c):
    config = transformers.LlamaConfig(vocab_size=c["vocab_size"], hidden_size=c["d_model"], intermediate_size=c["d_ff"],
        num_hidden_layers=c["num_layers"], num_attention_heads=c["num_heads"], num_key_value_heads=c["num_heads"],
        max_position_embeddings=c["context_length"], rms_norm_eps=1e-5, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        tie_word_embeddings=False)
    config._attn_implementation = "sdpa"
    return transformers.LlamaForCausalLM(config).to(dev)

def bench(kind, c, batch, compile_, steps=20, opt=False):
    torch.manual_seed(0)
    if kind == "ours":
        m = TransformerLM(**c, attn_backend="torch", device=dev)
        f = lambda x, y: m.loss(x, y)
    else:
        m = hf_model(c)
        f = lambda x, y: m(input_ids=x, labels=None).logits.float().log_softmax(-1).gather(-1, y[..., None]).mean().neg()
        f2 = lambda x, y: torch.nn.functional.cross_entropy(m(input_ids=x).logits.flatten(0, 1).float(), y.flatten())
        f = f2
    step_fn = f
    if compile_:
        step_fn = torch.compile(f)
    o = AdamW(m.parameters(), lr=1e-4) if opt else None
    x = torch.randint(0, c["vocab_size"], (batch, c["context_length"]), device=dev)
    y = torch.randint(0, c["vocab_size"], (batch, c["context_length"]), device=dev)
    def one():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = step_fn(x, y)
        loss.backward()
        if o: o.step(); o.zero_grad(set_to_none=True)
        else: m.zero_grad(set_to_none=True)
    for _ in range(5): one()
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(steps): one()
    torch.cuda.synchronize(); dt = (time.perf_counter() - t) / steps
    tps = batch * c["context_length"] / dt
    del m, o
    torch.cuda.empty_cache()
    return tps

ts = dict(vocab_size=10000, context_length=256, d_model=512, num_layers=4, num_heads=16, d_ff=1344)
g2 = dict(vocab_size=50257, context_length=1024, d_model=768, num_layers=12, num_heads=12, d_ff=2048)
peak = lookup_peak_flops(torch.cuda.get_device_name())
print(torch.cuda.get_device_name(), torch.__version__, transformers.__version__)
which = sys.argv[1:] or ["ts", "g2"]
if "ts" in which:
    for comp in [False, True]:
        a = bench("ours", ts, 64, comp); b = bench("hf", ts, 64, comp)
        print(f"TS compile={comp} ours {a:,.0f} tok/s  hf {b:,.0f} tok/s  ratio {a/b:.3f}", flush=True)
if "g2" in which:
    for comp in [True]:
        for bs in [16]:
            a = bench("ours", g2, bs, comp, opt=True)
            print(f"GPT2-small bs={bs} compile={comp} ours {a:,.0f} tok/s MFU {a*flops_per_token(g2)/peak:.3f}", flush=True)
            b = bench("hf", g2, bs, comp, opt=True)
            print(f"   hf {b:,.0f} tok/s MFU {b*flops_per_token(g2)/peak:.3f} ratio {a/b:.3f}", flush=True)
