"""Dynamic-SUPERB phase 1: its 55 instances, their dimension, pinned dataset revision and audio count.

DeSTA2 reports the 48 speech instances (`in_desta2_48`); the other 7 are non-speech audio (dimension AUD).
Each instance is the Hugging Face dataset `DynamicSuperb/<name>`, split `test`.
"""

from __future__ import annotations

from typing import NamedTuple


class Instance(NamedTuple):
    name: str
    dimension: str  # CON, SEM, PAR, DEG, SPK (speech) or AUD
    revision: str
    two_audio: bool
    in_desta2_48: bool

    @property
    def hf_path(self) -> str:
        return f"DynamicSuperb/{self.name}"


DIMENSIONS = ("CON", "SEM", "PAR", "DEG", "SPK")

INSTANCES: dict[str, Instance] = {
    i.name: i
    for i in (
        Instance("AccentClassification_AccentdbExtended", "PAR", "2482e7cb4dae50a5b87293e657b89426b6cf9fb9", False, True),
        Instance("BirdSoundDetection_Warblrb10k", "AUD", "c3e9d21704bac0fbfbb195fa6e081861095f2ae1", False, False),
        Instance("ChordClassification_AcousticGuitarAndPiano", "AUD", "94536b9449d3d8cc34736a13723098a8c50178da", False, False),
        Instance("DialogueActClassification_DailyTalk", "SEM", "97f1851f9d4b30359e2cbcd8ac0c1c80782497d5", False, True),
        Instance("DialogueActPairing_DailyTalk", "SEM", "e3c3ad09f32a26c533eb87e1c30bb794beac8727", True, True),
        Instance("DialogueEmotionClassification_DailyTalk", "PAR", "91f7e70e0c36da5b15298394f169c88a766acb8a", False, True),
        Instance("EmotionRecognition_MultimodalEmotionlinesDataset", "PAR", "357de0fabef3c794feef57802d16a3505e348d16", False, True),
        Instance("EnhancementDetection_LibriTTS-TestClean_WHAM", "DEG", "724ec9dd686c8cd194049207b726ca653fdb70c3", False, True),
        Instance("EnvironmentalSoundClassification_ESC50-Animals", "AUD", "9a48970d0251e9490cefb5b33256dffb2af553c7", False, False),
        Instance("EnvironmentalSoundClassification_ESC50-ExteriorAndUrbanNoises", "AUD", "a2bc606e283ec754c91aaf7b08f212bd4aaceed7", False, False),
        Instance("EnvironmentalSoundClassification_ESC50-HumanAndNonSpeechSounds", "AUD", "ee1b7f5876a8c19301b4390c67e428ebdf868cb1", False, False),
        Instance("EnvironmentalSoundClassification_ESC50-InteriorAndDomesticSounds", "AUD", "a092ef085b819df3fea76a02dda5f4a568eab21f", False, False),
        Instance("EnvironmentalSoundClassification_ESC50-NaturalSoundscapesAndWaterSounds", "AUD", "26b1e06f849d14f9de9648df934bc54546850e81", False, False),
        Instance("HowFarAreYou_3DSpeaker", "PAR", "afaa08b513a6480c9b62032702079e742291b26b", False, True),
        Instance("IntentClassification_FluentSpeechCommands-Action", "SEM", "e99a09c331c480ade2e26d72a18c47616c1ed055", False, True),
        Instance("IntentClassification_FluentSpeechCommands-Location", "SEM", "2cea4fb57d7c22b0b8d6bb345c4b5f6564d04904", False, True),
        Instance("IntentClassification_FluentSpeechCommands-Object", "SEM", "1ca56522f65d193be4c1a0b0f537b61255000f01", False, True),
        Instance("LanguageIdentification_VoxForge", "CON", "243688a7c22b7070a9dbfb23f0739b83d5dac977", False, True),
        Instance("MultiSpeakerDetection_LibriSpeech-TestClean", "SPK", "77674ca8dcfd50ad1145594693a14efcce44b8d7", False, True),
        Instance("MultiSpeakerDetection_VCTK", "SPK", "8ace818e20776004649a9d4d08b89554ad3b8a60", False, True),
        Instance("NoiseDetection_LJSpeech_MUSAN-Gaussian", "DEG", "a4d622294d368639c78a746d02f7f78b13c24f4c", False, True),
        Instance("NoiseDetection_LJSpeech_MUSAN-Music", "DEG", "96a79d4be3b29975b7e7a26acdb21cb84b07ddfb", False, True),
        Instance("NoiseDetection_LJSpeech_MUSAN-Noise", "DEG", "ea10ccfbe27fdea1b28b44274019d3c366aa5aa6", False, True),
        Instance("NoiseDetection_LJSpeech_MUSAN-Speech", "DEG", "34dcd9bb43960c9e4b55be3706fb121101c60bc5", False, True),
        Instance("NoiseDetection_VCTK-MUSAN-Gaussian", "DEG", "d6f4d3042e831ef778c3952dd423d049c5117d65", False, True),
        Instance("NoiseDetection_VCTK_MUSAN-Music", "DEG", "24102c85984919d3e71124fdaa9c5591e2a2232f", False, True),
        Instance("NoiseDetection_VCTK_MUSAN-Noise", "DEG", "b89eb5d36cc5bc2405818fbbb4eed4f3172aa85e", False, True),
        Instance("NoiseDetection_VCTK_MUSAN-Speech", "DEG", "00446f669f83cc66331c9af37da2d548ae9110c3", False, True),
        Instance("NoiseSNRLevelPrediction_VCTK_MUSAN-Gaussian", "DEG", "71f828f4d267e63e86c8fac4c58f135742fd0b7a", False, True),
        Instance("NoiseSNRLevelPrediction_VCTK_MUSAN-Music", "DEG", "306045fcdb7d753748d69af7b71b8ffffff5dff1", False, True),
        Instance("NoiseSNRLevelPrediction_VCTK_MUSAN-Noise", "DEG", "72db3d2839df92870a2f00d171453cd6cf61d9e5", False, True),
        Instance("NoiseSNRLevelPrediction_VCTK_MUSAN-Speech", "DEG", "64bdc0825c73977d8ab965301eb48b03d8b30c12", False, True),
        Instance("ReverberationDetection_LJSpeech_RirsNoises-LargeRoom", "DEG", "f5abacbe7eda26b5d298e4470f107201212f7146", False, True),
        Instance("ReverberationDetection_LJSpeech_RirsNoises-MediumRoom", "DEG", "6fa5b3be650344e23e598ce70c7abcc90a3fcd7e", False, True),
        Instance("ReverberationDetection_LJSpeech_RirsNoises-SmallRoom", "DEG", "e2b094fb1740f63ec2eb9edb994cb2c700964ebe", False, True),
        Instance("ReverberationDetection_VCTK_RirsNoises-LargeRoom", "DEG", "c8d99c18cb336e1c83e8520a867e8342f3d72ea5", False, True),
        Instance("ReverberationDetection_VCTK_RirsNoises-MediumRoom", "DEG", "12c364c00d2839d49d53680ef39fbefaf102c65f", False, True),
        Instance("ReverberationDetection_VCTK_RirsNoises-SmallRoom", "DEG", "e121b5c6cbee290bb4643b66158eda7d963597e8", False, True),
        Instance("SarcasmDetection_Mustard", "SEM", "d5c325e746da0387b4e91133e2059efab4589da5", False, True),
        Instance("SpeakerCounting_LibriTTS-TestClean", "SPK", "860970ed147ca57108dba641626711c5f8553002", False, True),
        Instance("SpeakerVerification_LibriSpeech-TestClean", "SPK", "c3a125e63523f1ea742059ac46f137aaa60c19d8", True, True),
        Instance("SpeakerVerification_VCTK", "SPK", "973bfc07dbf5fe9afe4085b463563797f1f5e51d", True, True),
        Instance("SpeechCommandRecognition_GoogleSpeechCommandsV1", "CON", "b491ad9806ee1fd51517b61abdfc591dab3b399c", False, True),
        Instance("SpeechDetection_LJSpeech", "CON", "4e0b44fef28d44d3b09455e161cfd1da3fdd7881", False, True),
        Instance("SpeechDetection_LibriSpeech-TestClean", "CON", "784229e4d8cfb6ea738b23ba6724c66996ecb28f", False, True),
        Instance("SpeechDetection_LibriSpeech-TestOther", "CON", "eaf0b4f2c80df74ba45d466a7b600025b42c1be5", False, True),
        Instance("SpeechTextMatching_LJSpeech", "CON", "e3ed97663bc817b243856cb5c664a6d44084bd6b", False, True),
        Instance("SpeechTextMatching_LibriSpeech-TestClean", "CON", "dcbcd64a111098282cd7523159a57e42914ad636", False, True),
        Instance("SpeechTextMatching_LibriSpeech-TestOther", "CON", "2af061a48da62fe4aa00cfc2db18ead239e606a8", False, True),
        Instance("SpokenTermDetection_LJSpeech", "CON", "f1f077d153d1065066dcadbade2f6aacab9f2345", False, True),
        Instance("SpokenTermDetection_LibriSpeech-TestClean", "CON", "c0dae4aec006e1d66b7099ca2f77d9436a973838", False, True),
        Instance("SpokenTermDetection_LibriSpeech-TestOther", "CON", "745b0c564ca3c4266ce0223b7cfa79ef6ea31143", False, True),
        Instance("SpoofDetection_ASVspoof2015", "PAR", "49af1e9e5a1c9576a96a9361fed20e9264b39e27", False, True),
        Instance("SpoofDetection_ASVspoof2017", "PAR", "1bd06829e151cc190a34a3e8b597fca58762f2a1", False, True),
        Instance("StressDetection_MIRSD", "PAR", "37004dc941a48471aa79ac19611ed740d6baf86d", False, True),
    )
}

DESTA2_48 = [name for name, instance in INSTANCES.items() if instance.in_desta2_48]
