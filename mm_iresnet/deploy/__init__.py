"""Deployment: ONNX export of detectors' backbone + neck and of whole
recognisers, with the backbone in its deploy form (BN folded)."""
from .onnx import (AXES, DEFAULT_EXPORTER, EXPORTERS, DetectorFeatures,
                   OnnxFeatures, RecognizerScores, build_deploy_model,
                   export_module, export_onnx, export_wrapper, make_session,
                   rel_errors, run_onnxruntime, switch_to_deploy,
                   use_onnx_features)

__all__ = ['AXES', 'DEFAULT_EXPORTER', 'EXPORTERS', 'DetectorFeatures',
           'OnnxFeatures', 'RecognizerScores', 'build_deploy_model',
           'export_module', 'export_onnx', 'export_wrapper', 'make_session',
           'rel_errors', 'run_onnxruntime', 'switch_to_deploy',
           'use_onnx_features']
