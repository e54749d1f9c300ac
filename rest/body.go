package rest

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The reference validates JSON bodies with coercion on: "60" is an integer, "true" a boolean
// (rest-api.md §0.3). These helpers read one optional field of a body decoded into
// json.RawMessage fields and return the validator's message on a mismatch.

func absent(raw json.RawMessage) bool { return len(raw) == 0 }

// intField reads an integer ≥ minimum; ok is false when the field is absent or null.
func intField(raw json.RawMessage, path string, minimum int64) (v int64, ok bool, err error) {
	s := strings.TrimSpace(string(raw))
	if absent(raw) || s == "null" {
		return 0, false, nil
	}
	if strings.HasPrefix(s, `"`) {
		var str string
		_ = json.Unmarshal(raw, &str)
		s = strings.TrimSpace(str)
	}
	f, perr := strconv.ParseFloat(s, 64)
	if perr != nil || math.IsInf(f, 0) || math.IsNaN(f) || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false, validationError(path + " must be integer")
	}
	if int64(f) < minimum {
		return 0, false, validationError(path + " must be >= " + strconv.FormatInt(minimum, 10))
	}
	return int64(f), true, nil
}

// boolField reads a boolean (or "true"/"false"); ok is false when absent or null.
func boolField(raw json.RawMessage, path string) (v, ok bool, err error) {
	switch strings.TrimSpace(string(raw)) {
	case "", "null":
		return false, false, nil
	case "true", `"true"`:
		return true, true, nil
	case "false", `"false"`:
		return false, true, nil
	}
	return false, false, validationError(path + " must be boolean")
}

// stringField reads a string (numbers and booleans are coerced); ok is false when absent.
func stringField(raw json.RawMessage, path string) (v string, ok bool, err error) {
	s := strings.TrimSpace(string(raw))
	if absent(raw) || s == "null" {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &v); err == nil {
		return v, true, nil
	}
	if s == "true" || s == "false" || json.Valid(raw) && s[0] != '{' && s[0] != '[' {
		return s, true, nil
	}
	return "", false, validationError(path + " must be string")
}

// requiredString reads a string that must be present.
func requiredString(raw json.RawMessage, name string) (string, error) {
	v, ok, err := stringField(raw, "body/"+name)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", validationError("body must have required property '" + name + "'")
	}
	return v, nil
}

// sortBy is the {column, order} object of the listing bodies.
type sortBy struct {
	Column json.RawMessage `json:"column"`
	Order  json.RawMessage `json:"order"`
}

// parseSortBy validates sortBy against the allowed columns; order defaults to asc.
func parseSortBy(raw json.RawMessage, columns ...string) (column string, desc bool, err error) {
	if absent(raw) || strings.TrimSpace(string(raw)) == "null" {
		return "", false, nil
	}
	var sb sortBy
	if json.Unmarshal(raw, &sb) != nil {
		return "", false, validationError("body/sortBy must be object")
	}
	col, ok, err := stringField(sb.Column, "body/sortBy/column")
	if err != nil {
		return "", false, err
	}
	if !ok {
		return "", false, validationError("body/sortBy must have required property 'column'")
	}
	if !contains(columns, col) {
		return "", false, validationError("body/sortBy/column must be equal to one of the allowed values")
	}
	ord, ok, err := stringField(sb.Order, "body/sortBy/order")
	if err != nil {
		return "", false, err
	}
	if ok && ord != "asc" && ord != "desc" {
		return "", false, validationError("body/sortBy/order must be equal to one of the allowed values")
	}
	return col, ord == "desc", nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// requiredStrings reads a required, non-empty JSON array of strings of at most max items,
// with the reference's validation messages.
func requiredStrings(raw json.RawMessage, field string, max int) ([]string, error) {
	if absent(raw) {
		return nil, validationError("body must have required property '" + field + "'")
	}
	var list []string
	if json.Unmarshal(raw, &list) != nil {
		return nil, validationError("body/" + field + " must be array")
	}
	if len(list) == 0 {
		return nil, validationError("body/" + field + " must NOT have fewer than 1 items")
	}
	if len(list) > max {
		return nil, validationError(fmt.Sprintf("body/%s must NOT have more than %d items", field, max))
	}
	return list, nil
}
