"""Experiment (not adopted): re-score a detector's boxes with a crop classifier, R-CNN style.

    python benchmarks/rescore_crops.py RUN [CROP_PX=96] [EPOCHS=6]

Reads ../shared/data/noaa_brittlestar_det/annotations.json (relative to the repository root,
as the run's split.json does). Predicts the run's training frames, cuts 96 px crops (1.5x the
box plus 8 px of context) of the labelled boxes (each twice, once jittered by +-10%) and of
the detector's false positives (IoU < 0.3 with every label, up to 30 per frame), fine-tunes an
ImageNet EfficientNet-Lite0 on background / brittle_star / other_organism, then re-scores the
held-out frames' top 100 boxes as det_score^a * p_class^(1-a).

Run once on .bench/det_default_r256 (2026-11-27, quiet 2-core CPU), printed:
    predict train 173s / predict val 55s
    crops 16998 (bg 11262, bs 2690, other 3046) in 26s
    ep 0 loss 0.847 232s ... ep 5 loss 0.484 1308s
    detector: AP50 bs 0.328 AP bs 0.115 mAP 0.136
    rescore a=0.0: AP50 bs 0.261 ...  a=0.3: 0.337  a=0.5: 0.355  a=0.7: AP50 bs 0.361 AP bs 0.125 mAP 0.152
i.e. +0.03 AP50 for 25 more minutes of training and ~0.5 s more per frame; the crop classifier
alone ranks worse than the detector (0.261), so the false positives are hard to tell from the
labelled animals (many are unlabelled brittle stars, docs/bench_detect.md).
"""
import sys, time, torch, numpy as np, torch.nn.functional as F
from pathlib import Path
torch.set_num_threads(2); torch.manual_seed(0)
from benthos.detect.build import load_detector
from benthos.detect.splits import run_split
from benthos.data.detection import read_detection
from benthos.detect.inference import predict_records
from benthos.detect.evaluate import coco_metrics
from benthos.data.images import load_image
from benthos.models import create_model
from torchvision.ops import box_iou
run = Path(sys.argv[1]); S = int(sys.argv[2]) if len(sys.argv)>2 else 96; EP = int(sys.argv[3]) if len(sys.argv)>3 else 6
model, info = load_detector(run)
alld = read_detection("../shared/data/noaa_brittlestar_det/annotations.json")
tr, va = run_split(run, alld, "train"), run_split(run, alld, "val")
t0=time.time()
model.roi_heads.score_thresh=0.05
ptr = predict_records(model, tr.records); print(f"predict train {time.time()-t0:.0f}s", flush=True)
t0=time.time(); pva = predict_records(model, va.records); print(f"predict val {time.time()-t0:.0f}s", flush=True)
del model
def crops(img, boxes):
    x = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2,0,1).float()
    H,W = x.shape[1:]
    b = torch.as_tensor(np.asarray(boxes), dtype=torch.float32)
    if len(b)==0: return torch.zeros(0,3,S,S,dtype=torch.uint8)
    cx=(b[:,0]+b[:,2])/2; cy=(b[:,1]+b[:,3])/2; s=torch.clamp(torch.maximum(b[:,2]-b[:,0],b[:,3]-b[:,1])*1.5+8, min=24)
    rois = torch.stack([torch.zeros_like(cx), cx-s/2, cy-s/2, cx+s/2, cy+s/2],1)
    from torchvision.ops import roi_align
    return roi_align(x[None], rois, (S,S), 1.0, 2, aligned=True).round().clamp(0,255).to(torch.uint8)
X=[]; Y=[]
t0=time.time()
for r in tr.records:
    img = load_image(r.image_path); gb=torch.as_tensor(np.asarray(r.boxes),dtype=torch.float32); gl=np.asarray(r.labels)
    # GT with jitter copies
    if len(gb):
        w=(gb[:,2:]-gb[:,:2]).repeat(1,2)
        for j in range(2):
            jb = gb + (torch.rand_like(gb)-0.5)*0.2*w if j else gb
            X.append(crops(img, jb)); Y += (gl+1).tolist()
    p = ptr[int(r.image_id)]
    pb = torch.as_tensor(p["boxes"]); 
    if len(pb):
        iou = box_iou(pb, gb).max(1).values if len(gb) else torch.zeros(len(pb))
        neg = pb[(iou<0.3)][:30]
        X.append(crops(img, neg)); Y += [0]*len(neg)
X=torch.cat(X); Y=torch.tensor(Y)
print(f"crops {len(X)} (bg {int((Y==0).sum())}, bs {int((Y==1).sum())}, other {int((Y==2).sum())}) in {time.time()-t0:.0f}s", flush=True)
net = create_model("efficientnet_lite0", num_classes=3, weights="imagenet").to(memory_format=torch.channels_last)
mean=torch.tensor([0.485,0.456,0.406]).view(1,3,1,1)*255; std=torch.tensor([0.229,0.224,0.225]).view(1,3,1,1)*255
def prep(x): return ((x.float()-mean)/std).contiguous(memory_format=torch.channels_last)
opt=torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=0.05)
bs=64; steps=EP*((len(X)+bs-1)//bs); sched=torch.optim.lr_scheduler.OneCycleLR(opt, 1e-3, total_steps=steps, pct_start=0.15)
w = torch.tensor([1.0,1.0,1.0])
t0=time.time()
for ep in range(EP):
    net.train(); perm=torch.randperm(len(X)); tl=0
    for i in range(0,len(X),bs):
        idx=perm[i:i+bs]; xb=X[idx]
        if torch.rand(1)<0.5: xb=xb.flip(3)
        if torch.rand(1)<0.5: xb=xb.flip(2)
        k=int(torch.randint(0,4,(1,))); xb=torch.rot90(xb,k,(2,3))
        loss=F.cross_entropy(net(prep(xb)), Y[idx], label_smoothing=0.1)
        opt.zero_grad(); loss.backward(); opt.step(); sched.step(); tl+=loss.item()*len(idx)
    print(f"ep {ep} loss {tl/len(X):.3f} {time.time()-t0:.0f}s", flush=True)
net.eval()
t0=time.time(); probs={}
with torch.no_grad():
    for r in va.records:
        p=pva[int(r.image_id)]
        c=crops(load_image(r.image_path), p["boxes"][:100])
        pr = torch.cat([net(prep(c[i:i+128])).softmax(1) for i in range(0,len(c),128)]) if len(c) else torch.zeros(0,3)
        probs[int(r.image_id)]=pr
print(f"rescore val {time.time()-t0:.0f}s for {len(va.records)} frames", flush=True)
def show(tag, preds):
    m=coco_metrics(va,preds); b=m["per_class"]["brittle_star"]; print(f"{tag}: AP50 bs {b['AP50']:.3f} AP bs {b['AP']:.3f} mAP {m['mAP']:.3f}", flush=True)
show("detector", pva)
for a in (0.0,0.3,0.5,0.7):
    out={}
    for k,p in pva.items():
        n=min(100,len(p["boxes"])); pr=probs[k]
        sc=p["scores"][:n]; lab=p["labels"][:n]
        pc = pr[torch.arange(n), torch.as_tensor(lab)+1].numpy() if n else np.zeros(0)
        out[k]={"boxes":p["boxes"][:n],"scores":(sc**a)*(pc**(1-a)),"labels":lab}
    show(f"rescore a={a}", out)
