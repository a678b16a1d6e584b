package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// maxReviewSize bounds a request body, as the API server bounds objects.
const maxReviewSize = 7 * 1024 * 1024

// reviewHandler serves one webhook: it decodes the AdmissionReview, calls
// handle and writes the answer in the API version of the request. It does
// what controller-runtime's admission.Webhook does, in one JSON pass
// instead of three: decoding the review was two thirds of the cost of a
// request, and the webhook's latency is added to every pod creation.
type reviewHandler struct {
	handle func(context.Context, admission.Request) admission.Response
	log    logr.Logger
	// panics lets a panic through (fuzz tests); otherwise it is answered
	// as an internal error.
	panics bool
}

// review is an AdmissionReview of admission.k8s.io/v1 or v1beta1, which
// have the same fields.
type review struct {
	APIVersion string                         `json:"apiVersion"`
	Kind       string                         `json:"kind"`
	Request    *admissionv1.AdmissionRequest  `json:"request,omitempty"`
	Response   *admissionv1.AdmissionResponse `json:"response,omitempty"`
}

func (h *reviewHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	apiVersion := admissionv1.SchemeGroupVersion.String()
	var uid types.UID
	resp := func() (resp admission.Response) {
		if !h.panics {
			defer func() {
				if p := recover(); p != nil {
					h.log.Error(fmt.Errorf("panic: %v", p), "admission handler panicked")
					resp = admission.Errored(http.StatusInternalServerError, errors.New("podlock-controller: internal error"))
				}
			}()
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("content type %q, want application/json", ct))
		}
		body, err := readBody(r)
		if err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("reading the request: %w", err))
		}
		if len(body) > maxReviewSize {
			return admission.Errored(http.StatusRequestEntityTooLarge, fmt.Errorf("request larger than %d bytes", maxReviewSize))
		}
		var in review
		if err := json.Unmarshal(body, &in); err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the AdmissionReview: %w", err))
		}
		if in.Request != nil {
			uid = in.Request.UID
		}
		switch {
		case in.Kind != "AdmissionReview" || (in.APIVersion != "admission.k8s.io/v1" && in.APIVersion != "admission.k8s.io/v1beta1"):
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("got %s %s, want an AdmissionReview of admission.k8s.io/v1 or v1beta1", in.APIVersion, in.Kind))
		case in.Request == nil:
			return admission.Errored(http.StatusBadRequest, errors.New("AdmissionReview without a request"))
		}
		apiVersion = in.APIVersion
		req := admission.Request{AdmissionRequest: *in.Request}
		resp = h.handle(r.Context(), req)
		if err := resp.Complete(req); err != nil {
			return admission.Errored(http.StatusInternalServerError, fmt.Errorf("encoding the answer: %w", err))
		}
		return resp
	}()
	// Even a refused review answers for its request.
	resp.UID = uid
	out, err := json.Marshal(review{APIVersion: apiVersion, Kind: "AdmissionReview", Response: &resp.AdmissionResponse})
	if err != nil {
		h.log.Error(err, "encoding the AdmissionReview")
		http.Error(w, "encoding the AdmissionReview failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

// readBody reads a request body of at most maxReviewSize+1 bytes into a
// buffer of the announced length: io.ReadAll's doubling allocated four
// times the body of a typical review.
func readBody(r *http.Request) ([]byte, error) {
	if r.ContentLength < 0 || r.ContentLength > maxReviewSize {
		return io.ReadAll(io.LimitReader(r.Body, maxReviewSize+1))
	}
	buf := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(r.Body, buf); err != nil {
		return nil, err
	}
	return buf, nil
}
