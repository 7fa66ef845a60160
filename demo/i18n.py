"""Every string the page shows, in English and Korean. `t(lang, key, **fields)` picks one."""
from __future__ import annotations

LANGUAGES = {"English": "en", "한국어": "ko"}

EN: dict[str, str] = {
    "title": "# GoogLeNet Explorer",
    "subtitle": "Upload a photo and look inside **GoogLeNet (Inception v1)**: what it predicts, what each branch of "
    "every Inception module responds to, and which pixels the decision rests on.",
    "language": "Language / 언어",
    "presenter": "Presenter mode (large type, high contrast)",
    "model": "Model",
    "model_torchvision": "torchvision GoogLeNet",
    "model_original": "Original GoogLeNet (paper, BVLC)",
    "photo": "Photo (upload, webcam or paste)",
    "analyze": "Analyze",
    "examples": "Example photos (license-clean, see assets/LICENSES.md)",
    "top5": "Top-5 predictions",
    "seen": "What the model sees (224 × 224 centre crop)",
    "status_ready": "Upload a photo or pick an example.",
    "status_done": "Analysed in {total:.0f} ms on {device} (forward pass {forward:.0f} ms).",
    "tab_branches": "Inception branches",
    "tab_aux": "Auxiliary classifiers",
    "tab_arch": "Architecture",
    "tab_attr": "Attribution (why?)",
    "branches_intro": "An **Inception module** looks at the same input through four parallel **branches** and "
    "stacks their outputs along the channel axis: a **1x1** convolution, a **3x3** and a **5x5** convolution "
    "(each after a **1x1 reduction** that shrinks the channel count first, to save computation), and a "
    "**3x3 max pool** followed by a 1x1 **projection**. Small kernels see fine detail, larger ones see wider "
    "context; the network learns how much to use each. Below: each branch's mean activation over the photo "
    "and its most active channels.",
    "overview": "Share of each module's total activation, by branch. Click a bar to open that module.",
    "module": "Inception module",
    "colormap": "Colormap (colour-blind safe)",
    "opacity": "Overlay opacity",
    "low": "low",
    "high": "high",
    "mean_map": "Mean activation",
    "channels": "Most active channels (#channel, mean activation)",
    "col_branch": "Branch",
    "col_kernel": "Kernel",
    "col_channels": "Channels",
    "col_mean": "Mean activation",
    "col_share": "Share of module",
    "col_active": "Active units",
    "module_heading": "Inception {name}: {in_ch} channels in → {out_ch} out, {size} × {size} positions",
    "kernel_note": "torchvision's \"5x5\" branch really uses a 3x3 kernel (pytorch/vision#906).",
    "kernel": "{k}x{k} kernel",
    "paper_kernel": "(paper: {k}x{k})",
    "n_channels": "{n} ch",
    "note_kernel": "The \"5x5\" branch uses a 3x3 kernel here, not 5x5 (pytorch/vision#906).",
    "note_batch_norm": "Every convolution is followed by batch normalization, which the 2014 paper did not have.",
    "note_no_lrn": "There is no local response normalization (the paper uses it after the first two convolutions).",
    "aux_intro": "GoogLeNet has two **auxiliary classifiers**, small heads attached after **4a** and **4d**. "
    "During training their losses (weight 0.3) push useful gradient into the middle of the deep network; "
    "at test time they are switched off. Here all three heads run on the same photo, in evaluation mode.",
    "aux_untrained": "⚠️ **These auxiliary heads are untrained.** {note} Their outputs below are shown as raw "
    "numbers, not as predictions.",
    "aux_trained": "✅ {note}",
    "aux_head": "{name} (after {after})",
    "main_head": "Main classifier (after 5b)",
    "raw_outputs": "raw outputs of an untrained head: not predictions",
    "agreement": "Top-1 agrees with the main classifier: {agree}. Top-5 overlap: {overlap} of 5.",
    "yes": "yes",
    "no": "no",
    "arch_intro": "Numbers below are computed from the loaded model object, with the paper's Table 1 beside them "
    "(Szegedy et al., *Going Deeper with Convolutions*, 2014). Multiply-adds at a 224 × 224 input.",
    "arch_col_module": "Module",
    "arch_col_in": "In ch",
    "arch_col_1x1": "1x1",
    "arch_col_3x3": "3x3 reduce → 3x3",
    "arch_col_5x5": "5x5 reduce → \"5x5\"",
    "arch_col_pool": "Pool proj",
    "arch_col_out": "Out ch",
    "arch_col_params": "Params (this model)",
    "arch_col_paper_params": "Params (paper)",
    "arch_col_macs": "Mult-adds (this model)",
    "arch_col_paper_ops": "Ops (paper)",
    "naive_heading": "### Why 1x1 reductions? The same modules without them (\"naive\" Inception)",
    "naive_intro": "Without the 1x1 reductions every 3x3/5x5 convolution would run on all input channels, and the "
    "pool branch would pass all of them through, so each module's output would grow module after module.",
    "naive_col_params": "Params naive",
    "naive_col_macs": "Mult-adds naive",
    "naive_col_out": "Out ch naive",
    "naive_col_saving": "Saving",
    "gap_heading": "### Global average pooling instead of a fully connected layer",
    "gap_text": "After 5b the feature map is {size} × {size} × {c}. GoogLeNet averages each channel over the "
    "{size} × {size} positions (**0 weights**). A fully connected {size}×{size}×{c} → {c} layer in its place "
    "would need **{fc:,} weights** (about {fc_m:.1f} M), {ratio:.1f} × the {total_m:.1f} M parameters of the "
    "whole network.",
    "notes_heading": "### How this model differs from the paper",
    "notes_none": "This is the paper's network (BVLC's Caffe replication): true 5x5 branches, local response "
    "normalization, no batch normalization.",
    "total_params": "Total parameters of the loaded model: **{total:,}**.",
    "attr_intro": "Attribution maps ask *which pixels made the model choose this class?* Each method answers a "
    "slightly different question.",
    "attr_method": "Method",
    "attr_target": "Target class (top-5 first; type to search all 1000)",
    "attr_layer": "Grad-CAM layer (module or one branch)",
    "attr_settings": "Method settings",
    "ig_steps": "Integrated Gradients: steps",
    "sg_samples": "SmoothGrad: noisy samples",
    "sg_noise": "SmoothGrad: noise level (fraction of the input range)",
    "occ_window": "Occlusion: window (pixels)",
    "occ_stride": "Occlusion: stride (pixels)",
    "explain": "Explain",
    "compare": "Compare all methods",
    "attr_result": "Attribution map",
    "attr_compare": "All methods, same target",
    "attr_info": "**{method}** for **{label}** (class {index}) in {seconds:.2f} s.",
    "attr_delta": " Integrated Gradients convergence delta: {delta:.3g} (sum of attributions minus f(x) − f(baseline); near 0 is good).",
    "attr_signed": "Red: evidence for the class. Blue: evidence against it. White: no effect.",
    "attr_unsigned": "Bright: the pixels that matter most for this class.",
    "attr_need_analysis": "Analyse a photo first.",
    "target_top": "#{rank} {label} ({p:.1%})",
    "m_saliency": "Saliency: how much each pixel would change the class score if it changed a little (the raw gradient).",
    "m_integrated_gradients": "Integrated Gradients: each pixel's share of the score, summed along a path from a plain grey image to this photo.",
    "m_smoothgrad": "SmoothGrad: the saliency map averaged over many noisy copies of the photo, so the noise cancels out.",
    "m_gradcam": "Grad-CAM: which places in the chosen layer's feature map drive this class (coarse: the layer's resolution).",
    "m_guided_gradcam": "Guided Grad-CAM: Grad-CAM's places multiplied by fine pixel detail from guided backpropagation.",
    "m_occlusion": "Occlusion: how much the score drops when a grey square hides each part of the photo (slow: many forward passes).",
    "method_names": "Saliency|Integrated Gradients|SmoothGrad|Grad-CAM|Guided Grad-CAM|Occlusion",
    "random_banner": "⚠️ **Random weights**: this network is untrained, so its predictions are meaningless. "
    "Use it to explore the architecture. For real predictions start the app once with internet access "
    "(without `--weights random`) so the ImageNet weights can be downloaded.",
    "weights_line": "Model: {description}.",
    "error_prefix": "Could not analyse this image: ",
    "error_internal": "Something went wrong while analysing this image. The details are in the server log; "
    "please try another image.",
    "error_no_image": "Please upload a photo first.",
    "footer": "Example photo credits: assets/LICENSES.md (palace.jpg: danielbuechele, CC BY 2.0). "
    "Built on torchvision, Captum and Gradio.",
}

KO: dict[str, str] = {
    "title": "# GoogLeNet 탐색기",
    "subtitle": "사진을 올리고 **GoogLeNet(Inception v1)** 의 내부를 들여다보세요. 무엇을 예측하는지, 각 Inception "
    "모듈의 가지(branch)가 무엇에 반응하는지, 그리고 어떤 픽셀이 판단의 근거인지 볼 수 있습니다.",
    "language": "Language / 언어",
    "presenter": "발표 모드 (큰 글씨, 고대비)",
    "model": "모델",
    "model_torchvision": "torchvision GoogLeNet",
    "model_original": "원본 GoogLeNet (논문, BVLC)",
    "photo": "사진 (업로드, 웹캠, 붙여넣기)",
    "analyze": "분석하기",
    "examples": "예시 사진 (라이선스 확인됨: assets/LICENSES.md)",
    "top5": "상위 5개 예측",
    "seen": "모델이 보는 이미지 (224 × 224 중앙 크롭)",
    "status_ready": "사진을 올리거나 예시를 고르세요.",
    "status_done": "{device}에서 {total:.0f} ms 만에 분석했습니다 (순전파 {forward:.0f} ms).",
    "tab_branches": "Inception 가지(branch)",
    "tab_aux": "보조 분류기",
    "tab_arch": "구조",
    "tab_attr": "기여도 (왜?)",
    "branches_intro": "**Inception 모듈**은 같은 입력을 네 개의 병렬 **가지(branch)** 로 동시에 보고, 그 출력을 "
    "채널 방향으로 이어 붙입니다(concatenate). **1x1** 합성곱, **3x3** 합성곱과 **5x5** 합성곱(각각 앞에서 "
    "**1x1 차원 축소**로 채널 수를 먼저 줄여 계산량을 아낌), 그리고 **3x3 최대 풀링** 뒤의 1x1 **투영(projection)** "
    "입니다. 작은 커널은 세밀한 부분을, 큰 커널은 더 넓은 맥락을 봅니다. 각 가지를 얼마나 쓸지는 네트워크가 "
    "학습합니다. 아래는 각 가지의 평균 활성화 지도와 가장 활발한 채널입니다.",
    "overview": "모듈별 전체 활성화에서 각 가지가 차지하는 비율. 막대를 클릭하면 그 모듈로 이동합니다.",
    "module": "Inception 모듈",
    "colormap": "색상표 (색각이상 친화)",
    "opacity": "겹침 불투명도",
    "low": "낮음",
    "high": "높음",
    "mean_map": "평균 활성화",
    "channels": "가장 활발한 채널 (#채널, 평균 활성화)",
    "col_branch": "가지",
    "col_kernel": "커널",
    "col_channels": "채널 수",
    "col_mean": "평균 활성화",
    "col_share": "모듈 내 비율",
    "col_active": "활성 유닛 비율",
    "module_heading": "Inception {name}: 입력 {in_ch} 채널 → 출력 {out_ch} 채널, {size} × {size} 위치",
    "kernel_note": "torchvision의 \"5x5\" 가지는 실제로 3x3 커널을 씁니다 (pytorch/vision#906).",
    "kernel": "{k}x{k} 커널",
    "paper_kernel": "(논문: {k}x{k})",
    "n_channels": "{n} 채널",
    "note_kernel": "이 모델의 \"5x5\" 가지는 5x5가 아니라 3x3 커널을 씁니다 (pytorch/vision#906, torchvision이 처음 포팅할 때부터 "
    "그대로 남은 것).",
    "note_batch_norm": "모든 합성곱 뒤에 배치 정규화가 있습니다. 2014년 논문에는 없던 것입니다.",
    "note_no_lrn": "국소 응답 정규화(LRN)가 없습니다 (논문은 처음 두 합성곱 뒤에 사용).",
    "aux_intro": "GoogLeNet에는 **4a**와 **4d** 뒤에 붙은 작은 **보조 분류기(auxiliary classifier)** 가 두 개 "
    "있습니다. 학습할 때 이들의 손실(가중치 0.3)이 깊은 네트워크의 중간층까지 기울기를 잘 전달해 주고, "
    "테스트할 때는 쓰지 않습니다. 여기서는 세 분류기를 모두 같은 사진에 평가 모드로 실행합니다.",
    "aux_untrained": "⚠️ **이 보조 분류기들은 학습되지 않았습니다.** {note} 아래 출력은 예측이 아니라 "
    "가공하지 않은 숫자로만 보여 줍니다.",
    "aux_trained": "✅ {note}",
    "aux_head": "{name} ({after} 뒤)",
    "main_head": "주 분류기 (5b 뒤)",
    "raw_outputs": "학습되지 않은 분류기의 원시 출력: 예측이 아님",
    "agreement": "주 분류기와 1순위 일치: {agree}. 상위 5개 중 겹치는 수: {overlap}/5.",
    "yes": "예",
    "no": "아니오",
    "arch_intro": "아래 숫자는 불러온 모델 객체에서 직접 계산했고, 옆에 논문의 표 1을 함께 적었습니다 "
    "(Szegedy 외, *Going Deeper with Convolutions*, 2014). 곱셈-덧셈 수는 224 × 224 입력 기준입니다.",
    "arch_col_module": "모듈",
    "arch_col_in": "입력 채널",
    "arch_col_1x1": "1x1",
    "arch_col_3x3": "3x3 축소 → 3x3",
    "arch_col_5x5": "5x5 축소 → \"5x5\"",
    "arch_col_pool": "풀링 투영",
    "arch_col_out": "출력 채널",
    "arch_col_params": "파라미터 (이 모델)",
    "arch_col_paper_params": "파라미터 (논문)",
    "arch_col_macs": "곱셈-덧셈 (이 모델)",
    "arch_col_paper_ops": "연산 (논문)",
    "naive_heading": "### 왜 1x1 차원 축소인가? 축소 없는 같은 모듈 (\"naive\" Inception)",
    "naive_intro": "1x1 축소가 없으면 모든 3x3/5x5 합성곱이 입력 채널 전체에 대해 계산되고, 풀링 가지는 입력 채널을 "
    "그대로 내보내므로 모듈을 거칠 때마다 출력 채널이 계속 늘어납니다.",
    "naive_col_params": "파라미터 (naive)",
    "naive_col_macs": "곱셈-덧셈 (naive)",
    "naive_col_out": "출력 채널 (naive)",
    "naive_col_saving": "절감",
    "gap_heading": "### 완전 연결층 대신 전역 평균 풀링(GAP)",
    "gap_text": "5b 뒤의 특징 맵은 {size} × {size} × {c} 입니다. GoogLeNet은 각 채널을 {size} × {size} 위치에 대해 "
    "평균합니다(**가중치 0개**). 그 자리에 {size}×{size}×{c} → {c} 완전 연결층을 쓰면 **가중치 {fc:,}개** "
    "(약 {fc_m:.1f} M)가 필요하며, 이는 네트워크 전체 파라미터 {total_m:.1f} M의 {ratio:.1f} 배입니다.",
    "notes_heading": "### 이 모델이 논문과 다른 점",
    "notes_none": "이 모델은 논문의 네트워크(BVLC의 Caffe 재현)입니다: 진짜 5x5 가지, 국소 응답 정규화(LRN), "
    "배치 정규화 없음.",
    "total_params": "불러온 모델의 전체 파라미터 수: **{total:,}**.",
    "attr_intro": "기여도(attribution) 지도는 *어떤 픽셀 때문에 모델이 이 클래스를 골랐는가?* 를 묻습니다. "
    "방법마다 조금씩 다른 질문에 답합니다.",
    "attr_method": "방법",
    "attr_target": "대상 클래스 (상위 5개 먼저; 입력하면 1000개 전체에서 검색)",
    "attr_layer": "Grad-CAM 층 (모듈 또는 가지 하나)",
    "attr_settings": "방법별 설정",
    "ig_steps": "Integrated Gradients: 단계 수",
    "sg_samples": "SmoothGrad: 노이즈 샘플 수",
    "sg_noise": "SmoothGrad: 노이즈 크기 (입력 범위 대비 비율)",
    "occ_window": "Occlusion: 가림 창 크기 (픽셀)",
    "occ_stride": "Occlusion: 이동 간격 (픽셀)",
    "explain": "설명하기",
    "compare": "모든 방법 비교",
    "attr_result": "기여도 지도",
    "attr_compare": "같은 클래스에 대한 모든 방법",
    "attr_info": "**{label}** (클래스 {index})에 대한 **{method}**: {seconds:.2f}초.",
    "attr_delta": " Integrated Gradients 수렴 오차: {delta:.3g} (기여도의 합 − (f(x) − f(기준 이미지)); 0에 가까울수록 좋음).",
    "attr_signed": "빨강: 이 클래스를 지지하는 근거. 파랑: 반대하는 근거. 흰색: 영향 없음.",
    "attr_unsigned": "밝은 곳: 이 클래스에 가장 중요한 픽셀.",
    "attr_need_analysis": "먼저 사진을 분석하세요.",
    "target_top": "{rank}위 {label} ({p:.1%})",
    "m_saliency": "Saliency: 픽셀이 조금 바뀔 때 클래스 점수가 얼마나 바뀌는지 (기울기 그 자체).",
    "m_integrated_gradients": "Integrated Gradients: 회색 이미지에서 이 사진까지 가는 경로를 따라 더한, 각 픽셀의 점수 기여분.",
    "m_smoothgrad": "SmoothGrad: 노이즈를 섞은 여러 사진의 saliency를 평균해 잡음을 줄인 지도.",
    "m_gradcam": "Grad-CAM: 선택한 층의 특징 맵에서 이 클래스를 이끄는 위치 (해상도는 그 층 수준으로 거침).",
    "m_guided_gradcam": "Guided Grad-CAM: Grad-CAM의 위치에 guided backpropagation의 세밀한 픽셀 정보를 곱한 지도.",
    "m_occlusion": "Occlusion: 회색 사각형으로 사진의 각 부분을 가렸을 때 점수가 얼마나 떨어지는지 (느림: 순전파를 여러 번 실행).",
    "method_names": "Saliency|Integrated Gradients|SmoothGrad|Grad-CAM|Guided Grad-CAM|Occlusion",
    "random_banner": "⚠️ **무작위 가중치**: 이 네트워크는 학습되지 않았으므로 예측은 의미가 없습니다. 구조를 "
    "살펴보는 용도로 쓰세요. 실제 예측을 보려면 인터넷에 연결된 상태에서 `--weights random` 없이 한 번 "
    "실행해 ImageNet 가중치를 내려받으세요.",
    "weights_line": "모델: {description}.",
    "error_prefix": "이 이미지를 분석할 수 없습니다: ",
    "error_internal": "이미지를 분석하는 중 문제가 생겼습니다. 자세한 내용은 서버 로그에 있습니다. 다른 이미지를 "
    "시도해 보세요.",
    "error_no_image": "먼저 사진을 올려 주세요.",
    "footer": "예시 사진 출처: assets/LICENSES.md (palace.jpg: danielbuechele, CC BY 2.0). "
    "torchvision, Captum, Gradio로 만들었습니다.",
}

# Plain-language Korean versions of the engine's input errors (the English detail follows in brackets).
KO_IMAGE_ERRORS = {
    "empty": "파일이 비어 있습니다 (0바이트).",
    "not_an_image": "읽을 수 있는 이미지 형식이 아닙니다 (JPEG, PNG, WebP, GIF, BMP, TIFF를 써 보세요).",
    "corrupt": "이미지 파일이 손상되었거나 잘려 있어 읽을 수 없습니다.",
    "too_large": "이미지가 너무 큽니다. 크기를 줄인 뒤 다시 올려 주세요.",
    "too_small": "이미지가 너무 작습니다. GoogLeNet에는 최소 15 × 15 픽셀이 필요합니다.",
    "aspect_ratio": "가로세로 비율이 너무 극단적이라 중앙 크롭에 거의 아무것도 남지 않습니다. 먼저 잘라 주세요.",
    "invalid": "이미지를 처리할 수 없습니다.",
}

# Korean for what the model package says about the loaded weights, by WeightsInfo.kind. Checkpoints describe
# themselves (their own metadata), so those keep their own words.
KO_WEIGHTS = {
    "random": ("무작위 가중치 ({source}): 구조 탐색 전용",
               "무작위 가중치: 보조 분류기도 나머지 네트워크처럼 학습되지 않았습니다."),
    "imagenet": ("torchvision GoogLeNet, ImageNet-1k 가중치 (IMAGENET1K_V1: top-1 69.8%, top-5 89.5%)",
                 "torchvision은 이 모델의 보조 분류기를 학습하지 않은 채로 공개했습니다. 출력은 무작위이며 예측이 "
                 "아닙니다. 구조를 보여 주기 위해서만 표시합니다."),
    "bvlc": ("BVLC GoogLeNet (Caffe, 논문의 네트워크: top-1 68.7%, top-5 88.9%)",
             "BVLC가 두 보조 분류기를 네트워크와 함께 학습했습니다 (각 손실 가중치 0.3). 4a와 4d에서 나온 실제 "
             "예측입니다."),
}

TEXT = {"en": EN, "ko": KO}
assert EN.keys() == KO.keys(), set(EN) ^ set(KO)


def t(lang: str, key: str, **fields: object) -> str:
    text = TEXT.get(lang, EN)[key]
    return text.format(**fields) if fields else text


def image_error(lang: str, kind: str, message: str) -> str:
    if lang == "ko":
        return f"{KO_IMAGE_ERRORS.get(kind, KO_IMAGE_ERRORS['invalid'])} ({message})"
    return message


def weights_text(lang: str, kind: str, source: str, description: str, aux_note: str) -> tuple[str, str]:
    """(description, aux note) of the loaded weights in `lang`."""
    if lang == "ko" and kind in KO_WEIGHTS:
        ko_description, ko_note = KO_WEIGHTS[kind]
        return ko_description.format(source=source), ko_note
    return description, aux_note
